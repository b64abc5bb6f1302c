/*
 * gen_openmetrics — deterministic OpenMetrics 1.0 test input for the interop
 * tests (promtool / prometheus 2.42 against strata).
 *
 * Output (stdout), one family after another, each family's series one after
 * another, each series's samples in time order (the 2.42 backfiller appends
 * through a head, so a series must never go back in time):
 *
 *   # HELP <family> <text>
 *   # TYPE <family> counter|gauge|histogram
 *   <name>{<label>="<escaped>",...} <value> <unix seconds>
 *   ...
 *   # EOF
 *
 * Exactly one space between tokens, no blank lines: the 2.42 OpenMetrics
 * parser rejects anything looser. Label values are escaped with \\ \" \n
 * only (other escapes would be kept literally by the parser). Timestamps are
 * integer seconds so the parser's seconds->ms float conversion is exact.
 *
 * The PRNG is a fixed-seed splitmix64, so the same flags always produce the
 * same bytes. --exotic adds label values that only a faithful Go
 * strconv.Quote reproduces (control bytes, U+00A0, U+200B, U+FEFF).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x5eed5eed12345678ULL;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static double rng_unit(void)
{
	return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

static unsigned rng_below(unsigned n)
{
	return (unsigned)(rng_next() % n);
}

struct cfg {
	long series;
	long hours;
	long step;
	long start;
	int exotic;
};

/* Time grid shared by every series: sample i is at start + i*step. */
static long n_steps(const struct cfg *c)
{
	return c->hours * 3600 / c->step;
}

static void put_escaped(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", stdout);
		else if (*s == '"')
			fputs("\\\"", stdout);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
}

/* names/values alternate; NULL-terminated */
static void put_series(const char *name, const char *const *lv)
{
	fputs(name, stdout);
	if (lv[0] == NULL)
		return;
	putchar('{');
	for (int i = 0; lv[i] != NULL; i += 2) {
		if (i > 0)
			putchar(',');
		printf("%s=\"", lv[i]);
		put_escaped(lv[i + 1]);
		putchar('"');
	}
	putchar('}');
}

static void put_value(double v, int decimals)
{
	if (isnan(v))
		fputs("NaN", stdout);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", stdout);
	else if (decimals < 0)
		printf("%.17g", v);
	else
		printf("%.*f", decimals, v);
}

static void put_sample(const char *name, const char *const *lv, double v, int decimals, long ts)
{
	put_series(name, lv);
	putchar(' ');
	put_value(v, decimals);
	printf(" %ld\n", ts);
}

static void put_family(const char *family, const char *type, const char *help)
{
	printf("# HELP %s %s\n", family, help);
	printf("# TYPE %s %s\n", family, type);
}

/* counters: integer or fractional increments, occasional resets */
static void gen_counters(const struct cfg *c, long count)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
	static const char *const codes[] = {"200", "201", "204", "301", "400", "404", "500", "503"};
	char inst[32];

	put_family("strata_gen_requests", "counter", "Requests handled, with \\\\ and \\n in help.");
	for (long s = 0; s < count; s++) {
		snprintf(inst, sizeof(inst), "host-%03ld:9100", s / 40);
		const char *lv[] = {"code", codes[s % 8], "instance", inst, "method", methods[(s / 8) % 5],
				    NULL};
		int fractional = (s % 7 == 3);
		double v = fractional ? 0 : (double)rng_below(1000);
		for (long i = 0; i < n_steps(c); i++) {
			if (rng_below(500) == 0)
				v = fractional ? 0 : (double)rng_below(3);
			else if (fractional)
				v += (double)rng_below(100000) / 1000.0;
			else
				v += (double)rng_below(50);
			put_sample("strata_gen_requests_total", lv, v, fractional ? 3 : 0,
				   c->start + i * c->step);
		}
	}
}

/* gauges: random walks printed with 2 or 3 decimals */
static void gen_walks(const struct cfg *c, long count)
{
	char sensor[32], zone[32];

	printf("# HELP strata_gen_temperature_celsius Temperature.\n");
	printf("# TYPE strata_gen_temperature_celsius gauge\n");
	printf("# UNIT strata_gen_temperature_celsius celsius\n");
	for (long s = 0; s < count; s++) {
		snprintf(sensor, sizeof(sensor), "s%ld", s);
		snprintf(zone, sizeof(zone), "zone-%ld", s % 13);
		const char *lv[] = {"sensor", sensor, "zone", zone, NULL};
		int decimals = 2 + (int)(s % 2);
		double v = 20.0 + rng_unit() * 10.0;
		for (long i = 0; i < n_steps(c); i++) {
			v += (rng_unit() - 0.5) * 0.8;
			/* round so the printed value is the stored value */
			v = round(v * pow(10, decimals)) / pow(10, decimals);
			put_sample("strata_gen_temperature_celsius", lv, v, decimals, c->start + i * c->step);
		}
	}
}

/* gauges: integers (queue lengths); some with jittered timestamps */
static void gen_integers(const struct cfg *c, long count)
{
	char queue[32];

	put_family("strata_gen_queue_length", "gauge", "Items waiting.");
	for (long s = 0; s < count; s++) {
		snprintf(queue, sizeof(queue), "q%ld", s);
		int jitter = (s % 3 == 0);
		const char *lv[] = {"jitter", jitter ? "yes" : "no", "queue", queue, NULL};
		long v = rng_below(100);
		for (long i = 0; i < n_steps(c); i++) {
			v += (long)rng_below(21) - 10;
			if (v < 0)
				v = 0;
			/* jitter stays below the step so time order holds */
			long ts = c->start + i * c->step + (jitter ? (long)rng_below((unsigned)c->step) : 0);
			put_sample("strata_gen_queue_length", lv, (double)v, 0, ts);
		}
	}
}

/* gauges that never change: the XOR encoder's all-zero-bits path */
static void gen_constants(const struct cfg *c, long count)
{
	static const double consts[] = {0, 1, 42.5, -3, 1e-9, 123456789, 0.1, -0.0};
	char id[32];

	put_family("strata_gen_constant", "gauge", "Constant values.");
	for (long s = 0; s < count; s++) {
		double v = consts[s % 8];
		snprintf(id, sizeof(id), "%ld", s);
		const char *lv[] = {"id", id, "kind", v == floor(v) ? "int" : "frac", NULL};
		for (long i = 0; i < n_steps(c); i++)
			put_sample("strata_gen_constant", lv, v, -1, c->start + i * c->step);
	}
}

/* one histogram family: cumulative buckets, _sum, _count per label set */
static void gen_histograms(const struct cfg *c, long sets)
{
	static const char *const les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
					  "0.5",   "1.0",  "2.5",   "5.0",  "10.0", "+Inf"};
	enum { NB = 12 };
	static const char *const handlers[] = {"/", "/api/v1/query", "/api/v1/series", "/metrics",
					       "/-/ready"};
	long n = n_steps(c);
	double *buckets = calloc((size_t)(NB * n), sizeof(double));
	double *sum = calloc((size_t)n, sizeof(double));
	char handler[64], le[16];

	if (buckets == NULL || sum == NULL) {
		fprintf(stderr, "gen_openmetrics: out of memory\n");
		exit(1);
	}
	put_family("strata_gen_request_duration_seconds", "histogram", "Request latency.");
	for (long s = 0; s < sets; s++) {
		if (s < 5)
			snprintf(handler, sizeof(handler), "%s", handlers[s]);
		else
			snprintf(handler, sizeof(handler), "%s#%ld", handlers[s % 5], s);
		double cum[NB] = {0}, total = 0;
		for (long i = 0; i < n; i++) {
			if (rng_below(800) == 0) { /* process restart */
				memset(cum, 0, sizeof(cum));
				total = 0;
			}
			unsigned obs = rng_below(30);
			for (unsigned k = 0; k < obs; k++) {
				double d = -log(1.0 - rng_unit()) * 0.3;
				total += round(d * 1000) / 1000;
				for (int b = 0; b < NB; b++)
					if (b == NB - 1 || d <= atof(les[b]))
						cum[b] += 1;
			}
			for (int b = 0; b < NB; b++)
				buckets[b * n + i] = cum[b];
			sum[i] = round(total * 1000) / 1000;
		}
		for (int b = 0; b < NB; b++) {
			snprintf(le, sizeof(le), "%s", les[b]);
			const char *lv[] = {"handler", handler, "le", le, NULL};
			for (long i = 0; i < n; i++)
				put_sample("strata_gen_request_duration_seconds_bucket", lv, buckets[b * n + i],
					   0, c->start + i * c->step);
		}
		const char *lv[] = {"handler", handler, NULL};
		for (long i = 0; i < n; i++)
			put_sample("strata_gen_request_duration_seconds_sum", lv, sum[i], 3,
				   c->start + i * c->step);
		for (long i = 0; i < n; i++)
			put_sample("strata_gen_request_duration_seconds_count", lv, buckets[(NB - 1) * n + i], 0,
				   c->start + i * c->step);
	}
	free(buckets);
	free(sum);
}

/* NaN, infinities, extreme magnitudes, -0 mixed into ordinary values */
static void gen_specials(const struct cfg *c)
{
	static const char *const kinds[] = {"mixed", "all_nan", "inf_flip", "extreme", "nan_runs"};
	put_family("strata_gen_special", "gauge", "Special float values.");
	for (int s = 0; s < 5; s++) {
		const char *lv[] = {"kind", kinds[s], NULL};
		for (long i = 0; i < n_steps(c); i++) {
			double v;
			switch (s) {
			case 0:
				v = (i % 17 == 5) ? NAN : (i % 29 == 7) ? INFINITY : (i % 31 == 3) ? -INFINITY
												: rng_unit() * 100;
				break;
			case 1:
				v = NAN;
				break;
			case 2:
				v = (i % 2) ? INFINITY : -INFINITY;
				break;
			case 3: {
				static const double ex[] = {1e300, -1e300, 1e-300, 5e-324, -0.0,
							    1.7976931348623157e308, 123456789012345678.0, 0.1 + 0.2};
				v = ex[i % 8];
				break;
			}
			default:
				v = ((i / 10) % 2) ? NAN : (double)i;
				break;
			}
			put_sample("strata_gen_special", lv, v, -1, c->start + i * c->step);
		}
	}
}

/* label values that exercise escaping and quoting in every tool */
static void gen_awkward(const struct cfg *c)
{
	static const char *const values[] = {
		"back\\slash",
		"double\"quote",
		"new\nline",
		"\xc3\xbc\xe2\x82\xac unicode \xe6\x97\xa5\xe6\x9c\xac",
		"with spaces  inside",
		"comma,separated,values",
		"curly}brace{",
		"all \\ \" \n } , = mixed",
		"tab\there",
		"equals=sign",
		"trailing backslash\\",
		"\\n literal backslash-n",
		"emoji \xf0\x9f\x98\x80",
		"a",
		"",
	};
	char longv[400];
	size_t nv = sizeof(values) / sizeof(values[0]);

	for (size_t i = 0; i + 1 < sizeof(longv); i++)
		longv[i] = (char)('a' + i % 26);
	longv[sizeof(longv) - 1] = 0;

	put_family("strata_gen_awkward", "gauge", "Awkward label values: \\\" } , \xc3\xbc.");
	for (size_t s = 0; s < nv; s++) {
		const char *val = values[s][0] ? values[s] : longv;
		const char *lv[] = {"aux", s % 2 ? "odd" : "even", "path", val, "z_last", "1", NULL};
		for (long i = 0; i < n_steps(c); i += 1 + (long)(s % 3))
			put_sample("strata_gen_awkward", lv, (double)(s * 1000 + (size_t)i), 0,
				   c->start + i * c->step);
	}
	if (!c->exotic)
		return;
	static const char *const exotic[] = {
		"ctl\x01" "byte", "del\x7f" "char", "nbsp\xc2\xa0" "here", "zwsp\xe2\x80\x8b" "here",
		"bom\xef\xbb\xbf" "here", "cr\rreturn", "bell\a", "line\xe2\x80\xa8sep",
	};
	for (size_t s = 0; s < sizeof(exotic) / sizeof(exotic[0]); s++) {
		const char *lv[] = {"aux", "exotic", "path", exotic[s], NULL};
		for (long i = 0; i < n_steps(c); i++)
			put_sample("strata_gen_awkward", lv, (double)s, 0, c->start + i * c->step);
	}
}

/* one series with many label names, and label names of unusual shapes */
static void gen_many_labels(const struct cfg *c)
{
	enum { NL = 40 };
	char names[NL][16], vals[NL][24];
	const char *lv[2 * NL + 1];

	put_family("strata:gen:many_labels", "gauge", "Colons in the name, many labels.");
	for (int k = 0; k < NL; k++) {
		snprintf(names[k], sizeof(names[k]), "%slabel_%02d", k == 0 ? "_" : "", k);
		snprintf(vals[k], sizeof(vals[k]), "value-%d", k * 7919 % 1000);
		lv[2 * k] = names[k];
		lv[2 * k + 1] = vals[k];
	}
	lv[2 * NL] = NULL;
	for (long i = 0; i < n_steps(c); i++)
		put_sample("strata:gen:many_labels", lv, (double)i * 0.25, 2, c->start + i * c->step);

	const char *lv2[] = {"A", "upper", "Z9_", "mixed", "a1", "digits", NULL};
	for (long i = 0; i < n_steps(c); i++)
		put_sample("strata:gen:many_labels", lv2, (double)(i % 7), 0, c->start + i * c->step);
}

/* series that start late, end early, have gaps, or hold a single sample */
static void gen_partial(const struct cfg *c, long count)
{
	long n = n_steps(c);
	char id[32];

	put_family("strata_gen_partial", "gauge", "Series that do not cover the whole range.");
	for (long s = 0; s < count; s++) {
		long from, to, gap_from = -1, gap_to = -1;
		const char *shape;
		switch (s % 6) {
		case 0:
			shape = "late";
			from = n / 3 + (long)rng_below((unsigned)(n / 3));
			to = n;
			break;
		case 1:
			shape = "early_end";
			from = 0;
			to = 1 + (long)rng_below((unsigned)(n / 2));
			break;
		case 2:
			shape = "middle";
			from = n / 4;
			to = n / 4 + 1 + (long)rng_below((unsigned)(n / 4));
			break;
		case 3:
			shape = "gap";
			from = 0;
			to = n;
			gap_from = n / 5 + (long)rng_below((unsigned)(n / 5));
			gap_to = gap_from + 1 + (long)rng_below((unsigned)(n / 3));
			break;
		case 4:
			shape = "single";
			from = (long)rng_below((unsigned)n);
			to = from + 1;
			break;
		default:
			shape = "sparse";
			from = 0;
			to = n;
			break;
		}
		snprintf(id, sizeof(id), "%ld", s);
		const char *lv[] = {"id", id, "shape", shape, NULL};
		double v = rng_unit() * 1000;
		for (long i = from; i < to; i++) {
			if (i >= gap_from && i < gap_to)
				continue;
			if (s % 6 == 5 && rng_below(40) != 0)
				continue;
			v += rng_unit() - 0.5;
			v = round(v * 1000) / 1000;
			put_sample("strata_gen_partial", lv, v, 3, c->start + i * c->step);
		}
	}
}

static long parse_long(const char *flag, const char *s, long min)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == 0 || *end != 0 || v < min) {
		fprintf(stderr, "gen_openmetrics: bad value for %s: %s\n", flag, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct cfg c = {.series = 1000, .hours = 6, .step = 15, .start = 1700000000, .exotic = 0};

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--exotic") == 0) {
			c.exotic = 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr,
				"usage: gen_openmetrics [--series N] [--hours H] [--step S] [--start UNIX_S] "
				"[--exotic]\n");
			return 2;
		}
		if (strcmp(argv[i], "--series") == 0)
			c.series = parse_long(argv[i], argv[i + 1], 30);
		else if (strcmp(argv[i], "--hours") == 0)
			c.hours = parse_long(argv[i], argv[i + 1], 1);
		else if (strcmp(argv[i], "--step") == 0)
			c.step = parse_long(argv[i], argv[i + 1], 1);
		else if (strcmp(argv[i], "--start") == 0)
			c.start = parse_long(argv[i], argv[i + 1], 0);
		else {
			fprintf(stderr, "gen_openmetrics: unknown flag %s\n", argv[i]);
			return 2;
		}
		i++;
	}
	if (n_steps(&c) < 12) {
		fprintf(stderr, "gen_openmetrics: need at least 12 samples per series\n");
		return 2;
	}

	/* Fixed families first (5 special + 15 awkward + 2 many-label series),
	 * then the remaining budget split across the scalable families. */
	long rest = c.series - 22;
	long hist_sets = rest / 5 / 14;
	if (hist_sets < 1)
		hist_sets = 1;
	rest -= hist_sets * 14;
	long counters = rest * 35 / 100, walks = rest * 25 / 100, ints = rest * 15 / 100,
	     consts = rest * 5 / 100;
	long partial = rest - counters - walks - ints - consts;
	if (partial < 6)
		partial = 6;

	gen_counters(&c, counters);
	gen_walks(&c, walks);
	gen_integers(&c, ints);
	gen_constants(&c, consts);
	gen_histograms(&c, hist_sets);
	gen_specials(&c);
	gen_awkward(&c);
	gen_many_labels(&c);
	gen_partial(&c, partial);
	fputs("# EOF\n", stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("gen_openmetrics: stdout");
		return 1;
	}
	return 0;
}
