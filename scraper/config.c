/* The refcounted, immutable loaded configuration (scraper_int.h). The YAML
 * served at /api/v1/status/config is written once at load. */
#include <stdlib.h>
#include <string.h>

#include "scraper_int.h"
#include "strata/err.h"

static int config_wrap(config_t **out, st_promconfig_t *pc) {
    config_t *c = calloc(1, sizeof *c);
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_promconfig_write_yaml(pc, &b);
    st_put_u8(&b, 0);
    if (!c || b.err) {
        free(c);
        st_encbuf_free(&b);
        st_promconfig_free(pc);
        return st_errorf(ST_ENOMEM, "config: allocating");
    }
    atomic_init(&c->refs, 1);
    c->cfg = pc;
    c->yaml = (char *)b.p;
    *out = c;
    return ST_OK;
}

int config_load(config_t **out, const char *path) {
    st_promconfig_t *pc;
    *out = NULL;
    int rc = st_promconfig_load(&pc, path);
    return rc ? rc : config_wrap(out, pc);
}

int config_from_text(config_t **out, const char *text, size_t len, const char *name) {
    st_promconfig_t *pc;
    *out = NULL;
    int rc = st_promconfig_parse(&pc, text, len, name);
    return rc ? rc : config_wrap(out, pc);
}

config_t *config_ref(config_t *c) {
    if (c) atomic_fetch_add(&c->refs, 1);
    return c;
}

void config_unref(config_t *c) {
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1) return;
    st_promconfig_free(c->cfg);
    free(c->yaml);
    free(c);
}
