/*
 * Go-compatible printing (see textfmt.h): fmt %g and strconv.FormatFloat 'f'
 * of float64 with shortest round-trip digits, strconv.Quote, and
 * labels.Labels.String(), so Strata's output diffs byte for byte against
 * promtool's.
 *
 * Shortest digits come from the Schubfach method (see "shortest round-trip
 * digits" below), which gives the digit string Go's shortest formatting
 * (Ryu) produces: the shortest that round-trips, and of those the closest
 * to v.
 */
#include "strata/textfmt.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Code points >= U+00A0 that Go's strconv.IsPrint rejects (Unicode 13, the
 * tables of Go 1.19/1.20 that promtool 2.42 is built with): unassigned,
 * spaces other than U+0020, format characters, private use, noncharacters.
 * Derived from promtool 2.42's quoting of every code point; sorted ranges. */
static const uint32_t nonprint[][2] = {
    {0x00a0, 0x00a0}, {0x00ad, 0x00ad}, {0x0378, 0x0379}, {0x0380, 0x0383}, {0x038b, 0x038b},
    {0x038d, 0x038d}, {0x03a2, 0x03a2}, {0x0530, 0x0530}, {0x0557, 0x0558}, {0x058b, 0x058c},
    {0x0590, 0x0590}, {0x05c8, 0x05cf}, {0x05eb, 0x05ee}, {0x05f5, 0x0605}, {0x061c, 0x061d},
    {0x06dd, 0x06dd}, {0x070e, 0x070f}, {0x074b, 0x074c}, {0x07b2, 0x07bf}, {0x07fb, 0x07fc},
    {0x082e, 0x082f}, {0x083f, 0x083f}, {0x085c, 0x085d}, {0x085f, 0x085f}, {0x086b, 0x089f},
    {0x08b5, 0x08b5}, {0x08c8, 0x08d2}, {0x08e2, 0x08e2}, {0x0984, 0x0984}, {0x098d, 0x098e},
    {0x0991, 0x0992}, {0x09a9, 0x09a9}, {0x09b1, 0x09b1}, {0x09b3, 0x09b5}, {0x09ba, 0x09bb},
    {0x09c5, 0x09c6}, {0x09c9, 0x09ca}, {0x09cf, 0x09d6}, {0x09d8, 0x09db}, {0x09de, 0x09de},
    {0x09e4, 0x09e5}, {0x09ff, 0x0a00}, {0x0a04, 0x0a04}, {0x0a0b, 0x0a0e}, {0x0a11, 0x0a12},
    {0x0a29, 0x0a29}, {0x0a31, 0x0a31}, {0x0a34, 0x0a34}, {0x0a37, 0x0a37}, {0x0a3a, 0x0a3b},
    {0x0a3d, 0x0a3d}, {0x0a43, 0x0a46}, {0x0a49, 0x0a4a}, {0x0a4e, 0x0a50}, {0x0a52, 0x0a58},
    {0x0a5d, 0x0a5d}, {0x0a5f, 0x0a65}, {0x0a77, 0x0a80}, {0x0a84, 0x0a84}, {0x0a8e, 0x0a8e},
    {0x0a92, 0x0a92}, {0x0aa9, 0x0aa9}, {0x0ab1, 0x0ab1}, {0x0ab4, 0x0ab4}, {0x0aba, 0x0abb},
    {0x0ac6, 0x0ac6}, {0x0aca, 0x0aca}, {0x0ace, 0x0acf}, {0x0ad1, 0x0adf}, {0x0ae4, 0x0ae5},
    {0x0af2, 0x0af8}, {0x0b00, 0x0b00}, {0x0b04, 0x0b04}, {0x0b0d, 0x0b0e}, {0x0b11, 0x0b12},
    {0x0b29, 0x0b29}, {0x0b31, 0x0b31}, {0x0b34, 0x0b34}, {0x0b3a, 0x0b3b}, {0x0b45, 0x0b46},
    {0x0b49, 0x0b4a}, {0x0b4e, 0x0b54}, {0x0b58, 0x0b5b}, {0x0b5e, 0x0b5e}, {0x0b64, 0x0b65},
    {0x0b78, 0x0b81}, {0x0b84, 0x0b84}, {0x0b8b, 0x0b8d}, {0x0b91, 0x0b91}, {0x0b96, 0x0b98},
    {0x0b9b, 0x0b9b}, {0x0b9d, 0x0b9d}, {0x0ba0, 0x0ba2}, {0x0ba5, 0x0ba7}, {0x0bab, 0x0bad},
    {0x0bba, 0x0bbd}, {0x0bc3, 0x0bc5}, {0x0bc9, 0x0bc9}, {0x0bce, 0x0bcf}, {0x0bd1, 0x0bd6},
    {0x0bd8, 0x0be5}, {0x0bfb, 0x0bff}, {0x0c0d, 0x0c0d}, {0x0c11, 0x0c11}, {0x0c29, 0x0c29},
    {0x0c3a, 0x0c3c}, {0x0c45, 0x0c45}, {0x0c49, 0x0c49}, {0x0c4e, 0x0c54}, {0x0c57, 0x0c57},
    {0x0c5b, 0x0c5f}, {0x0c64, 0x0c65}, {0x0c70, 0x0c76}, {0x0c8d, 0x0c8d}, {0x0c91, 0x0c91},
    {0x0ca9, 0x0ca9}, {0x0cb4, 0x0cb4}, {0x0cba, 0x0cbb}, {0x0cc5, 0x0cc5}, {0x0cc9, 0x0cc9},
    {0x0cce, 0x0cd4}, {0x0cd7, 0x0cdd}, {0x0cdf, 0x0cdf}, {0x0ce4, 0x0ce5}, {0x0cf0, 0x0cf0},
    {0x0cf3, 0x0cff}, {0x0d0d, 0x0d0d}, {0x0d11, 0x0d11}, {0x0d45, 0x0d45}, {0x0d49, 0x0d49},
    {0x0d50, 0x0d53}, {0x0d64, 0x0d65}, {0x0d80, 0x0d80}, {0x0d84, 0x0d84}, {0x0d97, 0x0d99},
    {0x0db2, 0x0db2}, {0x0dbc, 0x0dbc}, {0x0dbe, 0x0dbf}, {0x0dc7, 0x0dc9}, {0x0dcb, 0x0dce},
    {0x0dd5, 0x0dd5}, {0x0dd7, 0x0dd7}, {0x0de0, 0x0de5}, {0x0df0, 0x0df1}, {0x0df5, 0x0e00},
    {0x0e3b, 0x0e3e}, {0x0e5c, 0x0e80}, {0x0e83, 0x0e83}, {0x0e85, 0x0e85}, {0x0e8b, 0x0e8b},
    {0x0ea4, 0x0ea4}, {0x0ea6, 0x0ea6}, {0x0ebe, 0x0ebf}, {0x0ec5, 0x0ec5}, {0x0ec7, 0x0ec7},
    {0x0ece, 0x0ecf}, {0x0eda, 0x0edb}, {0x0ee0, 0x0eff}, {0x0f48, 0x0f48}, {0x0f6d, 0x0f70},
    {0x0f98, 0x0f98}, {0x0fbd, 0x0fbd}, {0x0fcd, 0x0fcd}, {0x0fdb, 0x0fff}, {0x10c6, 0x10c6},
    {0x10c8, 0x10cc}, {0x10ce, 0x10cf}, {0x1249, 0x1249}, {0x124e, 0x124f}, {0x1257, 0x1257},
    {0x1259, 0x1259}, {0x125e, 0x125f}, {0x1289, 0x1289}, {0x128e, 0x128f}, {0x12b1, 0x12b1},
    {0x12b6, 0x12b7}, {0x12bf, 0x12bf}, {0x12c1, 0x12c1}, {0x12c6, 0x12c7}, {0x12d7, 0x12d7},
    {0x1311, 0x1311}, {0x1316, 0x1317}, {0x135b, 0x135c}, {0x137d, 0x137f}, {0x139a, 0x139f},
    {0x13f6, 0x13f7}, {0x13fe, 0x13ff}, {0x1680, 0x1680}, {0x169d, 0x169f}, {0x16f9, 0x16ff},
    {0x170d, 0x170d}, {0x1715, 0x171f}, {0x1737, 0x173f}, {0x1754, 0x175f}, {0x176d, 0x176d},
    {0x1771, 0x1771}, {0x1774, 0x177f}, {0x17de, 0x17df}, {0x17ea, 0x17ef}, {0x17fa, 0x17ff},
    {0x180e, 0x180f}, {0x181a, 0x181f}, {0x1879, 0x187f}, {0x18ab, 0x18af}, {0x18f6, 0x18ff},
    {0x191f, 0x191f}, {0x192c, 0x192f}, {0x193c, 0x193f}, {0x1941, 0x1943}, {0x196e, 0x196f},
    {0x1975, 0x197f}, {0x19ac, 0x19af}, {0x19ca, 0x19cf}, {0x19db, 0x19dd}, {0x1a1c, 0x1a1d},
    {0x1a5f, 0x1a5f}, {0x1a7d, 0x1a7e}, {0x1a8a, 0x1a8f}, {0x1a9a, 0x1a9f}, {0x1aae, 0x1aaf},
    {0x1ac1, 0x1aff}, {0x1b4c, 0x1b4f}, {0x1b7d, 0x1b7f}, {0x1bf4, 0x1bfb}, {0x1c38, 0x1c3a},
    {0x1c4a, 0x1c4c}, {0x1c89, 0x1c8f}, {0x1cbb, 0x1cbc}, {0x1cc8, 0x1ccf}, {0x1cfb, 0x1cff},
    {0x1dfa, 0x1dfa}, {0x1f16, 0x1f17}, {0x1f1e, 0x1f1f}, {0x1f46, 0x1f47}, {0x1f4e, 0x1f4f},
    {0x1f58, 0x1f58}, {0x1f5a, 0x1f5a}, {0x1f5c, 0x1f5c}, {0x1f5e, 0x1f5e}, {0x1f7e, 0x1f7f},
    {0x1fb5, 0x1fb5}, {0x1fc5, 0x1fc5}, {0x1fd4, 0x1fd5}, {0x1fdc, 0x1fdc}, {0x1ff0, 0x1ff1},
    {0x1ff5, 0x1ff5}, {0x1fff, 0x200f}, {0x2028, 0x202f}, {0x205f, 0x206f}, {0x2072, 0x2073},
    {0x208f, 0x208f}, {0x209d, 0x209f}, {0x20c0, 0x20cf}, {0x20f1, 0x20ff}, {0x218c, 0x218f},
    {0x2427, 0x243f}, {0x244b, 0x245f}, {0x2b74, 0x2b75}, {0x2b96, 0x2b96}, {0x2c2f, 0x2c2f},
    {0x2c5f, 0x2c5f}, {0x2cf4, 0x2cf8}, {0x2d26, 0x2d26}, {0x2d28, 0x2d2c}, {0x2d2e, 0x2d2f},
    {0x2d68, 0x2d6e}, {0x2d71, 0x2d7e}, {0x2d97, 0x2d9f}, {0x2da7, 0x2da7}, {0x2daf, 0x2daf},
    {0x2db7, 0x2db7}, {0x2dbf, 0x2dbf}, {0x2dc7, 0x2dc7}, {0x2dcf, 0x2dcf}, {0x2dd7, 0x2dd7},
    {0x2ddf, 0x2ddf}, {0x2e53, 0x2e7f}, {0x2e9a, 0x2e9a}, {0x2ef4, 0x2eff}, {0x2fd6, 0x2fef},
    {0x2ffc, 0x3000}, {0x3040, 0x3040}, {0x3097, 0x3098}, {0x3100, 0x3104}, {0x3130, 0x3130},
    {0x318f, 0x318f}, {0x31e4, 0x31ef}, {0x321f, 0x321f}, {0x9ffd, 0x9fff}, {0xa48d, 0xa48f},
    {0xa4c7, 0xa4cf}, {0xa62c, 0xa63f}, {0xa6f8, 0xa6ff}, {0xa7c0, 0xa7c1}, {0xa7cb, 0xa7f4},
    {0xa82d, 0xa82f}, {0xa83a, 0xa83f}, {0xa878, 0xa87f}, {0xa8c6, 0xa8cd}, {0xa8da, 0xa8df},
    {0xa954, 0xa95e}, {0xa97d, 0xa97f}, {0xa9ce, 0xa9ce}, {0xa9da, 0xa9dd}, {0xa9ff, 0xa9ff},
    {0xaa37, 0xaa3f}, {0xaa4e, 0xaa4f}, {0xaa5a, 0xaa5b}, {0xaac3, 0xaada}, {0xaaf7, 0xab00},
    {0xab07, 0xab08}, {0xab0f, 0xab10}, {0xab17, 0xab1f}, {0xab27, 0xab27}, {0xab2f, 0xab2f},
    {0xab6c, 0xab6f}, {0xabee, 0xabef}, {0xabfa, 0xabff}, {0xd7a4, 0xd7af}, {0xd7c7, 0xd7ca},
    {0xd7fc, 0xd7ff}, {0xe000, 0xf8ff}, {0xfa6e, 0xfa6f}, {0xfada, 0xfaff}, {0xfb07, 0xfb12},
    {0xfb18, 0xfb1c}, {0xfb37, 0xfb37}, {0xfb3d, 0xfb3d}, {0xfb3f, 0xfb3f}, {0xfb42, 0xfb42},
    {0xfb45, 0xfb45}, {0xfbc2, 0xfbd2}, {0xfd40, 0xfd4f}, {0xfd90, 0xfd91}, {0xfdc8, 0xfdef},
    {0xfdfe, 0xfdff}, {0xfe1a, 0xfe1f}, {0xfe53, 0xfe53}, {0xfe67, 0xfe67}, {0xfe6c, 0xfe6f},
    {0xfe75, 0xfe75}, {0xfefd, 0xff00}, {0xffbf, 0xffc1}, {0xffc8, 0xffc9}, {0xffd0, 0xffd1},
    {0xffd8, 0xffd9}, {0xffdd, 0xffdf}, {0xffe7, 0xffe7}, {0xffef, 0xfffb}, {0xfffe, 0xffff},
    {0x1000c, 0x1000c}, {0x10027, 0x10027}, {0x1003b, 0x1003b}, {0x1003e, 0x1003e}, {0x1004e, 0x1004f},
    {0x1005e, 0x1007f}, {0x100fb, 0x100ff}, {0x10103, 0x10106}, {0x10134, 0x10136}, {0x1018f, 0x1018f},
    {0x1019d, 0x1019f}, {0x101a1, 0x101cf}, {0x101fe, 0x1027f}, {0x1029d, 0x1029f}, {0x102d1, 0x102df},
    {0x102fc, 0x102ff}, {0x10324, 0x1032c}, {0x1034b, 0x1034f}, {0x1037b, 0x1037f}, {0x1039e, 0x1039e},
    {0x103c4, 0x103c7}, {0x103d6, 0x103ff}, {0x1049e, 0x1049f}, {0x104aa, 0x104af}, {0x104d4, 0x104d7},
    {0x104fc, 0x104ff}, {0x10528, 0x1052f}, {0x10564, 0x1056e}, {0x10570, 0x105ff}, {0x10737, 0x1073f},
    {0x10756, 0x1075f}, {0x10768, 0x107ff}, {0x10806, 0x10807}, {0x10809, 0x10809}, {0x10836, 0x10836},
    {0x10839, 0x1083b}, {0x1083d, 0x1083e}, {0x10856, 0x10856}, {0x1089f, 0x108a6}, {0x108b0, 0x108df},
    {0x108f3, 0x108f3}, {0x108f6, 0x108fa}, {0x1091c, 0x1091e}, {0x1093a, 0x1093e}, {0x10940, 0x1097f},
    {0x109b8, 0x109bb}, {0x109d0, 0x109d1}, {0x10a04, 0x10a04}, {0x10a07, 0x10a0b}, {0x10a14, 0x10a14},
    {0x10a18, 0x10a18}, {0x10a36, 0x10a37}, {0x10a3b, 0x10a3e}, {0x10a49, 0x10a4f}, {0x10a59, 0x10a5f},
    {0x10aa0, 0x10abf}, {0x10ae7, 0x10aea}, {0x10af7, 0x10aff}, {0x10b36, 0x10b38}, {0x10b56, 0x10b57},
    {0x10b73, 0x10b77}, {0x10b92, 0x10b98}, {0x10b9d, 0x10ba8}, {0x10bb0, 0x10bff}, {0x10c49, 0x10c7f},
    {0x10cb3, 0x10cbf}, {0x10cf3, 0x10cf9}, {0x10d28, 0x10d2f}, {0x10d3a, 0x10e5f}, {0x10e7f, 0x10e7f},
    {0x10eaa, 0x10eaa}, {0x10eae, 0x10eaf}, {0x10eb2, 0x10eff}, {0x10f28, 0x10f2f}, {0x10f5a, 0x10faf},
    {0x10fcc, 0x10fdf}, {0x10ff7, 0x10fff}, {0x1104e, 0x11051}, {0x11070, 0x1107e}, {0x110bd, 0x110bd},
    {0x110c2, 0x110cf}, {0x110e9, 0x110ef}, {0x110fa, 0x110ff}, {0x11135, 0x11135}, {0x11148, 0x1114f},
    {0x11177, 0x1117f}, {0x111e0, 0x111e0}, {0x111f5, 0x111ff}, {0x11212, 0x11212}, {0x1123f, 0x1127f},
    {0x11287, 0x11287}, {0x11289, 0x11289}, {0x1128e, 0x1128e}, {0x1129e, 0x1129e}, {0x112aa, 0x112af},
    {0x112eb, 0x112ef}, {0x112fa, 0x112ff}, {0x11304, 0x11304}, {0x1130d, 0x1130e}, {0x11311, 0x11312},
    {0x11329, 0x11329}, {0x11331, 0x11331}, {0x11334, 0x11334}, {0x1133a, 0x1133a}, {0x11345, 0x11346},
    {0x11349, 0x1134a}, {0x1134e, 0x1134f}, {0x11351, 0x11356}, {0x11358, 0x1135c}, {0x11364, 0x11365},
    {0x1136d, 0x1136f}, {0x11375, 0x113ff}, {0x1145c, 0x1145c}, {0x11462, 0x1147f}, {0x114c8, 0x114cf},
    {0x114da, 0x1157f}, {0x115b6, 0x115b7}, {0x115de, 0x115ff}, {0x11645, 0x1164f}, {0x1165a, 0x1165f},
    {0x1166d, 0x1167f}, {0x116b9, 0x116bf}, {0x116ca, 0x116ff}, {0x1171b, 0x1171c}, {0x1172c, 0x1172f},
    {0x11740, 0x117ff}, {0x1183c, 0x1189f}, {0x118f3, 0x118fe}, {0x11907, 0x11908}, {0x1190a, 0x1190b},
    {0x11914, 0x11914}, {0x11917, 0x11917}, {0x11936, 0x11936}, {0x11939, 0x1193a}, {0x11947, 0x1194f},
    {0x1195a, 0x1199f}, {0x119a8, 0x119a9}, {0x119d8, 0x119d9}, {0x119e5, 0x119ff}, {0x11a48, 0x11a4f},
    {0x11aa3, 0x11abf}, {0x11af9, 0x11bff}, {0x11c09, 0x11c09}, {0x11c37, 0x11c37}, {0x11c46, 0x11c4f},
    {0x11c6d, 0x11c6f}, {0x11c90, 0x11c91}, {0x11ca8, 0x11ca8}, {0x11cb7, 0x11cff}, {0x11d07, 0x11d07},
    {0x11d0a, 0x11d0a}, {0x11d37, 0x11d39}, {0x11d3b, 0x11d3b}, {0x11d3e, 0x11d3e}, {0x11d48, 0x11d4f},
    {0x11d5a, 0x11d5f}, {0x11d66, 0x11d66}, {0x11d69, 0x11d69}, {0x11d8f, 0x11d8f}, {0x11d92, 0x11d92},
    {0x11d99, 0x11d9f}, {0x11daa, 0x11edf}, {0x11ef9, 0x11faf}, {0x11fb1, 0x11fbf}, {0x11ff2, 0x11ffe},
    {0x1239a, 0x123ff}, {0x1246f, 0x1246f}, {0x12475, 0x1247f}, {0x12544, 0x12fff}, {0x1342f, 0x143ff},
    {0x14647, 0x167ff}, {0x16a39, 0x16a3f}, {0x16a5f, 0x16a5f}, {0x16a6a, 0x16a6d}, {0x16a70, 0x16acf},
    {0x16aee, 0x16aef}, {0x16af6, 0x16aff}, {0x16b46, 0x16b4f}, {0x16b5a, 0x16b5a}, {0x16b62, 0x16b62},
    {0x16b78, 0x16b7c}, {0x16b90, 0x16e3f}, {0x16e9b, 0x16eff}, {0x16f4b, 0x16f4e}, {0x16f88, 0x16f8e},
    {0x16fa0, 0x16fdf}, {0x16fe5, 0x16fef}, {0x16ff2, 0x16fff}, {0x187f8, 0x187ff}, {0x18cd6, 0x18cff},
    {0x18d09, 0x1afff}, {0x1b11f, 0x1b14f}, {0x1b153, 0x1b163}, {0x1b168, 0x1b16f}, {0x1b2fc, 0x1bbff},
    {0x1bc6b, 0x1bc6f}, {0x1bc7d, 0x1bc7f}, {0x1bc89, 0x1bc8f}, {0x1bc9a, 0x1bc9b}, {0x1bca0, 0x1cfff},
    {0x1d0f6, 0x1d0ff}, {0x1d127, 0x1d128}, {0x1d173, 0x1d17a}, {0x1d1e9, 0x1d1ff}, {0x1d246, 0x1d2df},
    {0x1d2f4, 0x1d2ff}, {0x1d357, 0x1d35f}, {0x1d379, 0x1d3ff}, {0x1d455, 0x1d455}, {0x1d49d, 0x1d49d},
    {0x1d4a0, 0x1d4a1}, {0x1d4a3, 0x1d4a4}, {0x1d4a7, 0x1d4a8}, {0x1d4ad, 0x1d4ad}, {0x1d4ba, 0x1d4ba},
    {0x1d4bc, 0x1d4bc}, {0x1d4c4, 0x1d4c4}, {0x1d506, 0x1d506}, {0x1d50b, 0x1d50c}, {0x1d515, 0x1d515},
    {0x1d51d, 0x1d51d}, {0x1d53a, 0x1d53a}, {0x1d53f, 0x1d53f}, {0x1d545, 0x1d545}, {0x1d547, 0x1d549},
    {0x1d551, 0x1d551}, {0x1d6a6, 0x1d6a7}, {0x1d7cc, 0x1d7cd}, {0x1da8c, 0x1da9a}, {0x1daa0, 0x1daa0},
    {0x1dab0, 0x1dfff}, {0x1e007, 0x1e007}, {0x1e019, 0x1e01a}, {0x1e022, 0x1e022}, {0x1e025, 0x1e025},
    {0x1e02b, 0x1e0ff}, {0x1e12d, 0x1e12f}, {0x1e13e, 0x1e13f}, {0x1e14a, 0x1e14d}, {0x1e150, 0x1e2bf},
    {0x1e2fa, 0x1e2fe}, {0x1e300, 0x1e7ff}, {0x1e8c5, 0x1e8c6}, {0x1e8d7, 0x1e8ff}, {0x1e94c, 0x1e94f},
    {0x1e95a, 0x1e95d}, {0x1e960, 0x1ec70}, {0x1ecb5, 0x1ed00}, {0x1ed3e, 0x1edff}, {0x1ee04, 0x1ee04},
    {0x1ee20, 0x1ee20}, {0x1ee23, 0x1ee23}, {0x1ee25, 0x1ee26}, {0x1ee28, 0x1ee28}, {0x1ee33, 0x1ee33},
    {0x1ee38, 0x1ee38}, {0x1ee3a, 0x1ee3a}, {0x1ee3c, 0x1ee41}, {0x1ee43, 0x1ee46}, {0x1ee48, 0x1ee48},
    {0x1ee4a, 0x1ee4a}, {0x1ee4c, 0x1ee4c}, {0x1ee50, 0x1ee50}, {0x1ee53, 0x1ee53}, {0x1ee55, 0x1ee56},
    {0x1ee58, 0x1ee58}, {0x1ee5a, 0x1ee5a}, {0x1ee5c, 0x1ee5c}, {0x1ee5e, 0x1ee5e}, {0x1ee60, 0x1ee60},
    {0x1ee63, 0x1ee63}, {0x1ee65, 0x1ee66}, {0x1ee6b, 0x1ee6b}, {0x1ee73, 0x1ee73}, {0x1ee78, 0x1ee78},
    {0x1ee7d, 0x1ee7d}, {0x1ee7f, 0x1ee7f}, {0x1ee8a, 0x1ee8a}, {0x1ee9c, 0x1eea0}, {0x1eea4, 0x1eea4},
    {0x1eeaa, 0x1eeaa}, {0x1eebc, 0x1eeef}, {0x1eef2, 0x1efff}, {0x1f02c, 0x1f02f}, {0x1f094, 0x1f09f},
    {0x1f0af, 0x1f0b0}, {0x1f0c0, 0x1f0c0}, {0x1f0d0, 0x1f0d0}, {0x1f0f6, 0x1f0ff}, {0x1f1ae, 0x1f1e5},
    {0x1f203, 0x1f20f}, {0x1f23c, 0x1f23f}, {0x1f249, 0x1f24f}, {0x1f252, 0x1f25f}, {0x1f266, 0x1f2ff},
    {0x1f6d8, 0x1f6df}, {0x1f6ed, 0x1f6ef}, {0x1f6fd, 0x1f6ff}, {0x1f774, 0x1f77f}, {0x1f7d9, 0x1f7df},
    {0x1f7ec, 0x1f7ff}, {0x1f80c, 0x1f80f}, {0x1f848, 0x1f84f}, {0x1f85a, 0x1f85f}, {0x1f888, 0x1f88f},
    {0x1f8ae, 0x1f8af}, {0x1f8b2, 0x1f8ff}, {0x1f979, 0x1f979}, {0x1f9cc, 0x1f9cc}, {0x1fa54, 0x1fa5f},
    {0x1fa6e, 0x1fa6f}, {0x1fa75, 0x1fa77}, {0x1fa7b, 0x1fa7f}, {0x1fa87, 0x1fa8f}, {0x1faa9, 0x1faaf},
    {0x1fab7, 0x1fabf}, {0x1fac3, 0x1facf}, {0x1fad7, 0x1faff}, {0x1fb93, 0x1fb93}, {0x1fbcb, 0x1fbef},
    {0x1fbfa, 0x1ffff}, {0x2a6de, 0x2a6ff}, {0x2b735, 0x2b73f}, {0x2b81e, 0x2b81f}, {0x2cea2, 0x2ceaf},
    {0x2ebe1, 0x2f7ff}, {0x2fa1e, 0x2ffff}, {0x3134b, 0xe00ff}, {0xe01f0, 0x10ffff},
};

static bool in_nonprint(uint32_t cp) {
    size_t lo = 0, hi = sizeof nonprint / sizeof nonprint[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < nonprint[mid][0]) hi = mid;
        else if (cp > nonprint[mid][1]) lo = mid + 1;
        else return true;
    }
    return false;
}

/* strconv.IsPrint for a valid code point. */
static bool go_is_print(uint32_t cp) {
    if (cp < 0x80) return cp >= 0x20 && cp < 0x7f;
    if (cp < 0xa0) return false;
    return !in_nonprint(cp);
}

size_t st_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    /* lo/hi bound the second byte, which is where overlongs, surrogates and
     * values above U+10FFFF show up. */
    uint8_t lo = 0x80, hi = 0xbf;
    size_t len;
    uint32_t v;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        v = c & 0x0f;
        if (c == 0xe0) lo = 0xa0;
        else if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xf0) lo = 0x90;
        else if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    v = (v << 6) | (s[1] & 0x3f);
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    *cp = v;
    return len;
}

bool st_utf8_valid(const char *s, size_t n) {
    const uint8_t *p = (const uint8_t *)s, *end = p + n;
    while (p < end) {
        /* label values are nearly always ASCII: test 8 bytes at a time */
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (w & 0x8080808080808080ull) break;
            p += 8;
        }
        if (p == end) break;
        if (*p < 0x80) {
            p++;
            continue;
        }
        uint32_t cp;
        size_t k = st_utf8_decode(p, (size_t)(end - p), &cp);
        if (!k) return false;
        p += k;
    }
    return true;
}

void st_put_go_quote(st_encbuf_t *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    /* worst case \U0010ffff (10 bytes) per 4 input bytes, \xNN per byte */
    uint8_t *o = st_encbuf_reserve(b, 4 * len + 2);
    if (!o) return;
    uint8_t *start = o;
    *o++ = '"';
    while (p < end) {
        uint8_t c = *p;
        if (c >= 0x20 && c < 0x7f) {
            if (c == '"' || c == '\\') *o++ = '\\';
            *o++ = c;
            p++;
            continue;
        }
        uint32_t cp;
        size_t k = c < 0x80 ? 1 : st_utf8_decode(p, (size_t)(end - p), &cp);
        if (c < 0x80 || k == 0) {
            static const char named[] = "\a\b\f\n\r\t\v";
            static const char letter[] = "abfnrtv";
            const char *nm = memchr(named, c, sizeof named - 1);
            *o++ = '\\';
            if (nm) {
                *o++ = (uint8_t)letter[nm - named];
            } else {
                *o++ = 'x';
                *o++ = (uint8_t)hex[c >> 4];
                *o++ = (uint8_t)hex[c & 15];
            }
            p++;
            continue;
        }
        if (go_is_print(cp)) {
            memcpy(o, p, k);
            o += k;
        } else {
            int digits = cp < 0x10000 ? 4 : 8;
            *o++ = '\\';
            *o++ = cp < 0x10000 ? 'u' : 'U';
            for (int i = digits - 1; i >= 0; i--) *o++ = (uint8_t)hex[(cp >> (4 * i)) & 15];
        }
        p += k;
    }
    *o++ = '"';
    b->len += (size_t)(o - start);
}

void st_put_labels_go(st_encbuf_t *b, const st_labels_t *l) {
    st_put_u8(b, '{');
    for (size_t i = 0; i < l->n; i++) {
        if (i) st_put_bytes(b, ", ", 2);
        st_put_bytes(b, l->v[i].name, l->v[i].name_len);
        st_put_u8(b, '=');
        st_put_go_quote(b, l->v[i].value, l->v[i].value_len);
    }
    st_put_u8(b, '}');
}

/* ---- shortest round-trip digits ----
 *
 * Go's strconv (FormatFloat with precision -1, Ryu since Go 1.17) prints the
 * shortest decimal that reads back as v and, of those, the one closest to v.
 * "Reads back" means inside v's rounding interval: the reals nearer to v
 * than to its neighbours, the bounds included when v's significand is even
 * (round half to even). Found here with Giulietti's Schubfach method ("The
 * Schubfach way to render doubles", 2021), written from the paper:
 *
 * v = c 2^q. Pick k with 10^k <= the interval's width (2^q, or 3/4 2^q at a
 * power of two, whose lower gap is half the upper). Then the interval holds
 * s 10^k or (s+1) 10^k (s = floor(v / 10^k)) — the candidates of the
 * length of s — and, being narrower than 10^(k+1), at most one multiple of
 * 10^(k+1). Every decimal shorter than s near v is such a multiple, so: if
 * one lies inside it is the answer (unique, so also the closest; trailing
 * zeros are trimmed afterwards, so shorter ones come out too); otherwise
 * the answer is whichever of s, s+1 lies inside, the closer one when both
 * do, the even one when v is halfway (2251799813685247.75 prints as
 * ...47.8, as in Go). v 10^-k and the bounds are computed to 2 fractional
 * bits, rounded to odd, from a 126-bit g >= 10^-k 2^r: g overestimates by
 * less than one unit, which the paper shows never changes a comparison at
 * this width, and rounding to odd keeps "exactly on a bound" apart from
 * "just past it".
 *
 * Java's Double.toString uses the same method but wants two digits at
 * least; Go does not, so unlike Java's code there is no "s >= 100" guard on
 * the shorter candidate and no special case for the smallest subnormals
 * (Go prints 5e-324 where Java prints 4.9E-324). Doubles that are integers
 * below 2^53 take a fast path: their digits are the integer's, as no other
 * decimal with as few digits is within half a unit of them.
 *
 * tests/unit/textfmt checks this against the previous implementation
 * (fewest digits p whose correctly rounded p-digit decimal, or its
 * neighbour, reads back through strtod) on millions of doubles. */

#define FMT_K_MIN (-324) /* floor(log10(2^-1074)) */
#define FMT_K_MAX 292    /* floor(log10(2^971)) */
#define FMT_MASK63 0x7fffffffffffffffULL

/* g(k) = floor(10^-k 2^(125 - floor(log2 10^-k))) + 1, in [2^125, 2^126),
 * as its high and low 63 bits. Built once from exact big integers. */
static uint64_t g_tab[FMT_K_MAX - FMT_K_MIN + 1][2];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* floor(q log10 2), floor(log10(3/4 2^q)), floor(e log2 10): fixed-point
 * logarithms, checked equal to the exact values (rational arithmetic) for
 * every |q|, |e| <= 1100, beyond what doubles need. >> of a negative
 * int64_t is an arithmetic shift with gcc and clang. */
static int flog10pow2(int64_t q) { return (int)((q * 661971961083LL) >> 41); }
static int flog10_3q_pow2(int64_t q) { return (int)((q * 661971961083LL - 274743187321LL) >> 41); }
static int flog2pow10(int64_t e) { return (int)((e * 913124641741LL) >> 38); }

#define BIG_LIMBS 40 /* 1280 bits: 2^1100 and 10^324 (1077 bits) fit */
typedef struct {
    uint32_t l[BIG_LIMBS];
} big_t;

static void big_mul10(big_t *b) {
    uint64_t carry = 0;
    for (int i = 0; i < BIG_LIMBS; i++) {
        uint64_t x = (uint64_t)b->l[i] * 10 + carry;
        b->l[i] = (uint32_t)x;
        carry = x >> 32;
    }
}

static void big_div10(big_t *b) {
    uint64_t rem = 0;
    for (int i = BIG_LIMBS - 1; i >= 0; i--) {
        uint64_t x = (rem << 32) | b->l[i];
        b->l[i] = (uint32_t)(x / 10);
        rem = x % 10;
    }
}

static int big_bit(const big_t *b, int pos) { return pos < 0 ? 0 : (int)(b->l[pos / 32] >> (pos % 32)) & 1; }

/* g(k) from b = floor(10^-k 2^sh) (exact for k <= 0, where sh = 0):
 * g = floor(b / 2^lo) + 1 with lo = sh + floor(log2 10^-k) - 125, that is
 * bits lo..lo+125 of b (those below bit 0 are 0) plus one; the floor of a
 * floor is the floor of the whole quotient. */
static void g_store(int k, const big_t *b, int sh) {
    int lo = sh + flog2pow10(-k) - 125; /* bit of b that becomes bit 0 of g */
    uint64_t g1 = 0, g0 = 0;
    for (int i = 125; i >= 63; i--) g1 = (g1 << 1) | (uint64_t)big_bit(b, lo + i);
    for (int i = 62; i >= 0; i--) g0 = (g0 << 1) | (uint64_t)big_bit(b, lo + i);
    if (++g0 > FMT_MASK63) g0 = 0, g1++;
    g_tab[k - FMT_K_MIN][0] = g1;
    g_tab[k - FMT_K_MIN][1] = g0;
}

static void g_build(void) {
    big_t b;
    /* k <= 0: 10^-k is an integer; 10^0, 10^1, ... */
    memset(&b, 0, sizeof b);
    b.l[0] = 1;
    for (int k = 0; k >= FMT_K_MIN; k--) {
        g_store(k, &b, 0);
        big_mul10(&b);
    }
    /* k > 0: floor(2^1100 / 10^k), dividing by 10 once more per k */
    memset(&b, 0, sizeof b);
    b.l[1100 / 32] = 1u << (1100 % 32);
    for (int k = 1; k <= FMT_K_MAX; k++) {
        big_div10(&b);
        g_store(k, &b, 1100);
    }
}

/* g cp / 2^127 rounded to odd (any bits lost make the result odd): with
 * cp = 4c 2^h that is v 10^-k to two fractional bits. */
static uint64_t rop(uint64_t g1, uint64_t g0, uint64_t cp) {
    uint64_t x1 = (uint64_t)(((unsigned __int128)g0 * cp) >> 64);
    unsigned __int128 y = (unsigned __int128)g1 * cp;
    uint64_t y0 = (uint64_t)y, y1 = (uint64_t)(y >> 64);
    uint64_t z = (y0 >> 1) + x1;
    uint64_t vbp = y1 + (z >> 63);
    return vbp | (((z & FMT_MASK63) + FMT_MASK63) >> 63);
}

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                     "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

/* The digits of f (not 0, at most 18 digits) without trailing zeros;
 * *exp10 gets the decimal exponent of the first digit of f 10^e. Two
 * digits per division, eight-digit chunks in 32-bit arithmetic. */
static int put_digits(uint64_t f, int e, char digs[18], int *exp10) {
    char tmp[24], *end = tmp + sizeof tmp, *p = end;
    while (f >= 100000000) {
        uint32_t lo = (uint32_t)(f % 100000000);
        f /= 100000000;
        for (int i = 0; i < 4; i++, lo /= 100) memcpy(p -= 2, digit_pairs + 2 * (lo % 100), 2);
    }
    uint32_t x = (uint32_t)f;
    for (; x >= 100; x /= 100) memcpy(p -= 2, digit_pairs + 2 * (x % 100), 2);
    if (x >= 10) memcpy(p -= 2, digit_pairs + 2 * x, 2);
    else *--p = (char)('0' + x);
    int n = (int)(end - p), nd = n;
    while (nd > 1 && p[nd - 1] == '0') nd--;
    memcpy(digs, p, (size_t)nd);
    *exp10 = e + n - 1;
    return nd;
}

/* Shortest round-trip digits of a finite, non-zero |v|. */
static int shortest_digits(double v, char digs[18], int *exp10) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint64_t t = bits & ((1ULL << 52) - 1);
    int bq = (int)((bits >> 52) & 0x7ff);
    uint64_t c;
    int q;
    if (bq) {
        c = t | (1ULL << 52);
        q = bq - 1075;
        if (q < 0 && q > -53 && (c & ((1ULL << -q) - 1)) == 0) return put_digits(c >> -q, 0, digs, exp10);
    } else {
        c = t;
        q = -1074;
    }
    pthread_once(&g_once, g_build);
    uint64_t out = c & 1, cb = c << 2, cbr = cb + 2, cbl;
    int k;
    if (c != (1ULL << 52) || q == -1074) {
        cbl = cb - 2;
        k = flog10pow2(q);
    } else {
        cbl = cb - 1; /* lower gap half the upper */
        k = flog10_3q_pow2(q);
    }
    int h = q + flog2pow10(-k) + 2; /* 1..4 */
    uint64_t g1 = g_tab[k - FMT_K_MIN][0], g0 = g_tab[k - FMT_K_MIN][1];
    uint64_t vb = rop(g1, g0, cb << h), vbl = rop(g1, g0, cbl << h), vbr = rop(g1, g0, cbr << h);
    uint64_t s = vb >> 2;
    /* the one multiple of 10^(k+1) that may lie inside */
    uint64_t sp10 = s / 10 * 10, tp10 = sp10 + 10;
    bool upin = vbl + out <= sp10 << 2, wpin = (tp10 << 2) + out <= vbr;
    if (upin != wpin) return put_digits(upin ? sp10 : tp10, k, digs, exp10);
    uint64_t tt = s + 1;
    bool uin = vbl + out <= s << 2, win = (tt << 2) + out <= vbr;
    if (uin != win) return put_digits(uin ? s : tt, k, digs, exp10);
    /* both inside: the closer (vb is 4 v 10^-k, odd when inexact, and
     * 2 (s + tt) the midpoint in the same unit), the even one on a tie */
    uint64_t mid = (s + tt) << 1;
    return put_digits(vb < mid || (vb == mid && (s & 1) == 0) ? s : tt, k, digs, exp10);
}

/* Shortest digits of |v| for a finite v; zero is the single digit "0". */
static int digits_of(double v, char digs[18], int *exp10) {
    if (v == 0) {
        digs[0] = '0';
        *exp10 = 0;
        return 1;
    }
    return shortest_digits(fabs(v), digs, exp10);
}

static const char *special(double v) {
    if (isnan(v)) return "NaN";
    if (isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return NULL;
}

/* Fixed notation of the digits (strconv 'f' with shortest precision). */
static char *put_fixed(char *o, const char *digs, int nd, int x) {
    if (x < 0) { /* 0.000ddd */
        *o++ = '0';
        *o++ = '.';
        memset(o, '0', (size_t)(-x - 1));
        o += -x - 1;
        memcpy(o, digs, (size_t)nd);
        return o + nd;
    }
    if (nd <= x + 1) { /* ddd000 */
        memcpy(o, digs, (size_t)nd);
        memset(o + nd, '0', (size_t)(x + 1 - nd));
        return o + x + 1;
    }
    memcpy(o, digs, (size_t)x + 1); /* ddd.ddd */
    o[x + 1] = '.';
    memcpy(o + x + 2, digs + x + 1, (size_t)(nd - x - 1));
    return o + nd + 1;
}

size_t st_fmt_go_g(char out[ST_FLOAT_BUF], double v) {
    const char *sp = special(v);
    if (sp) {
        size_t n = strlen(sp);
        memcpy(out, sp, n + 1);
        return n;
    }
    char digs[18];
    int x;
    int nd = digits_of(v, digs, &x);
    char *o = out;
    if (signbit(v)) *o++ = '-';
    if (x < -4 || x >= 6) {
        /* %e layout: d[.ddd]e±XX, at least two exponent digits */
        *o++ = digs[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digs + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        int ax = x < 0 ? -x : x;
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        if (ax >= 100) *o++ = (char)('0' + ax / 100);
        *o++ = (char)('0' + ax / 10 % 10);
        *o++ = (char)('0' + ax % 10);
    } else {
        o = put_fixed(o, digs, nd, x);
    }
    *o = 0;
    return (size_t)(o - out);
}

size_t st_fmt_prom_value(char out[ST_PROM_VALUE_BUF], double v) {
    const char *sp = special(v);
    if (sp) {
        size_t n = strlen(sp);
        memcpy(out, sp, n + 1);
        return n;
    }
    char digs[18];
    int x;
    int nd = digits_of(v, digs, &x);
    char *o = out;
    if (signbit(v)) *o++ = '-';
    o = put_fixed(o, digs, nd, x);
    *o = 0;
    return (size_t)(o - out);
}

void st_put_prom_value(st_encbuf_t *b, double v) {
    const char *sp = special(v);
    if (sp) {
        st_put_cstr(b, sp);
        return;
    }
    char *o = (char *)st_encbuf_reserve(b, ST_PROM_VALUE_BUF);
    if (o) b->len += st_fmt_prom_value(o, v);
}

void st_put_metric_head(st_encbuf_t *b, const char *name, const char *type, const char *help) {
    st_put_fmt(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void st_put_metric(st_encbuf_t *b, const char *name, const char *type, const char *help, const char *labels,
                   double v) {
    char num[ST_FLOAT_BUF];
    st_fmt_go_g(num, v);
    if (help) st_put_metric_head(b, name, type, help);
    st_put_fmt(b, "%s%s %s\n", name, labels ? labels : "", num);
}
