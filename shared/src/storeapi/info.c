/*
 * thanos.info.InfoResponse (proto/thanos/info.proto; thanos-reference.md
 * §2.5):
 *
 *   InfoResponse  1 label_sets repeated ZLabelSet{1 labels repeated Label},
 *                 2 ComponentType string, 3 store StoreInfo; 4-9 (other
 *                 APIs) never sent, ignored when received
 *   StoreInfo     1 min_time int64, 2 max_time int64, 3 supports_sharding
 *                 bool, 5 supports_without_replica_labels bool,
 *                 6 tsdb_infos repeated TSDBInfo, 7 supports_projections
 *   TSDBInfo      1 labels ZLabelSet, 2 min_time int64, 3 max_time int64
 *
 * A Strata store always sends the store sub-message: its presence is what
 * tells a Thanos querier that the endpoint serves the StoreAPI.
 */
#include <stdlib.h>
#include <string.h>

#include "storeapi_int.h"
#include "strata/err.h"
#include "thanos/info.pb-c.h"

void st_store_info_free(st_store_info_t *i) {
    if (!i) return;
    free((char *)i->component);
    for (size_t k = 0; k < i->nlabel_sets; k++) st_labels_free(&i->label_sets[k]);
    free(i->label_sets);
    for (size_t k = 0; k < i->ntsdb_infos; k++) st_labels_free(&i->tsdb_infos[k].labels);
    free(i->tsdb_infos);
    memset(i, 0, sizeof *i);
}

int st_store_info_encode(const st_store_info_t *i, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    size_t nsets = i->nlabel_sets + i->ntsdb_infos;
    st_labels_t *sets = calloc(nsets ? nsets : 1, sizeof *sets);
    size_t *offs = calloc(nsets ? nsets : 1, sizeof *offs);
    Thanos__ZLabelSet *zs = calloc(nsets ? nsets : 1, sizeof *zs);
    Thanos__ZLabelSet **zp = calloc(i->nlabel_sets ? i->nlabel_sets : 1, sizeof *zp);
    Thanos__Info__TSDBInfo *ti = calloc(i->ntsdb_infos ? i->ntsdb_infos : 1, sizeof *ti);
    Thanos__Info__TSDBInfo **tp = calloc(i->ntsdb_infos ? i->ntsdb_infos : 1, sizeof *tp);
    st__sa_pb_labels_t pl = {0};
    int rc;
    if (!sets || !offs || !zs || !zp || !ti || !tp) {
        rc = st_errorf(ST_ENOMEM, "InfoResponse: allocating %zu label sets", nsets);
        goto out;
    }
    /* Struct copies only: the label strings stay borrowed from *i. */
    for (size_t k = 0; k < i->nlabel_sets; k++) sets[k] = i->label_sets[k];
    for (size_t k = 0; k < i->ntsdb_infos; k++) sets[i->nlabel_sets + k] = i->tsdb_infos[k].labels;
    if ((rc = st__sa_labels_to_pb(sets, nsets, &pl, offs))) goto out;
    for (size_t k = 0; k < nsets; k++) {
        zs[k] = (Thanos__ZLabelSet)THANOS__ZLABEL_SET__INIT;
        zs[k].labels = pl.p + offs[k];
        zs[k].n_labels = sets[k].n;
    }
    for (size_t k = 0; k < i->nlabel_sets; k++) zp[k] = &zs[k];
    for (size_t k = 0; k < i->ntsdb_infos; k++) {
        ti[k] = (Thanos__Info__TSDBInfo)THANOS__INFO__TSDBINFO__INIT;
        ti[k].labels = &zs[i->nlabel_sets + k];
        ti[k].min_time = i->tsdb_infos[k].min_time;
        ti[k].max_time = i->tsdb_infos[k].max_time;
        tp[k] = &ti[k];
    }
    Thanos__Info__StoreInfo store = THANOS__INFO__STORE_INFO__INIT;
    store.min_time = i->min_time;
    store.max_time = i->max_time;
    store.supports_sharding = i->supports_sharding;
    store.supports_without_replica_labels = i->supports_without_replica_labels;
    store.tsdb_infos = tp;
    store.n_tsdb_infos = i->ntsdb_infos;
    Thanos__Info__InfoResponse m = THANOS__INFO__INFO_RESPONSE__INIT;
    m.label_sets = zp;
    m.n_label_sets = i->nlabel_sets;
    m.componenttype = (char *)(i->component ? i->component : "");
    m.store = &store;
    rc = st__sa_pack(&m.base, out, len, "InfoResponse");
out:
    st__sa_pb_labels_free(&pl);
    free(sets);
    free(offs);
    free(zs);
    free(zp);
    free(ti);
    free(tp);
    return rc;
}

int st_store_info_decode(const uint8_t *p, size_t len, st_store_info_t *out) {
    memset(out, 0, sizeof *out);
    Thanos__Info__InfoResponse *m = thanos__info__info_response__unpack(NULL, len, p);
    if (!m) return st_errorf(ST_ECORRUPT, "InfoResponse: protobuf does not decode (%zu bytes)", len);
    int rc = ST_OK;
    if (!(out->component = strdup(m->componenttype ? m->componenttype : ""))) {
        rc = st_errorf(ST_ENOMEM, "InfoResponse: copying ComponentType");
        goto out;
    }
    if (m->n_label_sets && !(out->label_sets = calloc(m->n_label_sets, sizeof *out->label_sets))) {
        rc = st_errorf(ST_ENOMEM, "InfoResponse: allocating %zu label sets", m->n_label_sets);
        goto out;
    }
    for (; out->nlabel_sets < m->n_label_sets; out->nlabel_sets++) {
        const Thanos__ZLabelSet *z = m->label_sets[out->nlabel_sets];
        if ((rc = st__sa_labels_from_pb(z->labels, z->n_labels, &out->label_sets[out->nlabel_sets],
                                        "InfoResponse: label_sets")))
            goto out;
    }
    const Thanos__Info__StoreInfo *s = m->store;
    if (!s) goto out;
    out->min_time = s->min_time;
    out->max_time = s->max_time;
    out->supports_sharding = s->supports_sharding;
    out->supports_without_replica_labels = s->supports_without_replica_labels;
    if (s->n_tsdb_infos && !(out->tsdb_infos = calloc(s->n_tsdb_infos, sizeof *out->tsdb_infos))) {
        rc = st_errorf(ST_ENOMEM, "InfoResponse: allocating %zu tsdb_infos", s->n_tsdb_infos);
        goto out;
    }
    for (; out->ntsdb_infos < s->n_tsdb_infos; out->ntsdb_infos++) {
        const Thanos__Info__TSDBInfo *t = s->tsdb_infos[out->ntsdb_infos];
        st_tsdb_info_t *o = &out->tsdb_infos[out->ntsdb_infos];
        o->min_time = t->min_time;
        o->max_time = t->max_time;
        /* gogo always sends the labels sub-message; an absent one is empty */
        if (t->labels &&
            (rc = st__sa_labels_from_pb(t->labels->labels, t->labels->n_labels, &o->labels, "InfoResponse: tsdb_infos")))
            goto out;
    }
out:
    thanos__info__info_response__free_unpacked(m, NULL);
    if (rc) st_store_info_free(out);
    return rc;
}
