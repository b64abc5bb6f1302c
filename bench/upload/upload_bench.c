/*
 * upload_bench CONFIG.yml SRC_DIR [RUNS] — ships every file under SRC_DIR
 * (a block directory) to the bucket of CONFIG.yml with
 * st_objstore_upload_file, RUNS times (default 5), each run under its own
 * prefix and deleted afterwards; prints each run and the median in MB/s
 * (MB = 10^6 bytes).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "strata/err.h"
#include "strata/objstore.h"

typedef struct {
    char **rel;
    size_t n;
    unsigned long long bytes;
} files_t;

static int walk(const char *root, const char *rel, files_t *f) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[4096], full[8192];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (stat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            walk(root, sub, f);
        } else if (S_ISREG(st.st_mode)) {
            f->rel = realloc(f->rel, (f->n + 1) * sizeof *f->rel);
            f->rel[f->n++] = strdup(sub);
            f->bytes += (unsigned long long)st.st_size;
        }
    }
    closedir(d);
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dbl_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s CONFIG.yml SRC_DIR [RUNS]\n", argv[0]);
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    if (runs < 1 || runs > 100) runs = 5;
    st_objstore_t *s = NULL;
    int rc = st_objstore_open_file(&s, argv[1]);
    if (rc) {
        fprintf(stderr, "%s\n", st_errdetail(rc));
        return 1;
    }
    files_t f = {0};
    if (walk(argv[2], "", &f) != 0 || f.n == 0) {
        fprintf(stderr, "%s: no files\n", argv[2]);
        return 1;
    }
    double mbs[100];
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        for (size_t i = 0; i < f.n; i++) {
            char name[4200], path[8400];
            snprintf(name, sizeof name, "bench/%d/%s", r, f.rel[i]);
            snprintf(path, sizeof path, "%s/%s", argv[2], f.rel[i]);
            if ((rc = st_objstore_upload_file(s, name, path))) {
                fprintf(stderr, "upload %s: %s\n", name, st_errdetail(rc));
                return 1;
            }
        }
        double dt = now_s() - t0;
        mbs[r] = (double)f.bytes / 1e6 / dt;
        fprintf(stderr, "  run %d: %.1f MB/s (%.2f s)\n", r + 1, mbs[r], dt);
        for (size_t i = 0; i < f.n; i++) {
            char name[4200];
            snprintf(name, sizeof name, "bench/%d/%s", r, f.rel[i]);
            st_objstore_delete(s, name);
        }
    }
    qsort(mbs, (size_t)runs, sizeof mbs[0], dbl_cmp);
    double med = runs % 2 ? mbs[runs / 2] : (mbs[runs / 2 - 1] + mbs[runs / 2]) / 2;
    printf("%.1f\n", med);
    for (size_t i = 0; i < f.n; i++) free(f.rel[i]);
    free(f.rel);
    st_objstore_close(s);
    return 0;
}
