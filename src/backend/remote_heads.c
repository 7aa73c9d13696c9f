/*
 * The mechanistic lens over spex serve (spex/remote.h,
 * spex_remote_heads_scorer): the spex_heads_scorer of src/lens/heads.c
 * with each ablation sent as the "spex_ablate" field of a completion
 * request (spex/serve.h). The server applies it to that request only, with
 * the engine calls the lens makes in process, so the values agree with
 * `spex explain --llm M.gguf --heads`; mean ablation sends the reference
 * sequences and the server takes the means over them, as the lens does.
 */
#include "backend/remote_pool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/remote_int.h"

static int models_done(void *user, spexi_job *j) {
    spex_remote *r = user;
    return spexi_parse_components_reply(r->ctx, j->resp ? j->resp : "", j->len, r->model,
                                        &r->n_layers, &r->n_heads);
}

static int h_tokenize(void *user, int64_t n, const char *const *texts, const size_t *lens,
                      int add_bos, int32_t **toks, int64_t *n_toks) {
    spex_prompt_scorer ps;
    spex_remote_scorer(user, &ps);
    return ps.tokenize(user, n, texts, lens, add_bos, toks, n_toks);
}

static int h_set_reference(void *user, int64_t n, const int32_t *const *seqs, const int64_t *lens) {
    spex_remote *r = user;
    json_t *a = json_array();
    for (int64_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, spexi_ids_array(seqs[i], lens[i]))) {
            json_decref(a);
            a = NULL;
        }
    if (!a) return spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    json_decref(r->reference);
    r->reference = a;
    return SPEX_OK;
}

/* {"heads": [[l, h], ...], "mlps": [l, ...], "mode", "reference"} of flags. */
static json_t *ablate_field(const spex_remote *r, const uint8_t *flags, int mean) {
    json_t *o = json_object(), *heads = json_array(), *mlps = json_array();
    for (int64_t l = 0; l < r->n_layers; l++) {
        for (int64_t h = 0; h < r->n_heads; h++)
            if (flags[l * r->n_heads + h])
                json_array_append_new(heads, json_pack("[I,I]", (json_int_t)l, (json_int_t)h));
        if (flags[r->n_layers * r->n_heads + l]) json_array_append_new(mlps, json_integer(l));
    }
    json_object_set_new(o, "heads", heads);
    json_object_set_new(o, "mlps", mlps);
    json_object_set_new(o, "mode", json_string(mean ? "mean" : "zero"));
    if (mean && r->reference) json_object_set(o, "reference", r->reference);
    return o;
}

typedef struct ablated_run {
    spex_remote *r;
    const int64_t *start; /* job k scores sequences start[k] .. start[k + 1] */
    const int32_t *const *seqs;
    const int64_t *lens, *from;
    double *out;
} ablated_run;

static int ablated_done(void *user, spexi_job *j) {
    ablated_run *s = user;
    int64_t a = s->start[j->tag], k = s->start[j->tag + 1] - a;
    return spexi_parse_score_reply(s->r->ctx, SPEX_REMOTE_VLLM, j->resp ? j->resp : "", j->len, k,
                                   s->seqs + a, s->lens + a, s->from + a, s->out + a);
}

/* One request per run of sequences under one ablation (at most
 * prompts_per_request each), all in flight together. */
static int h_score(void *user, int64_t n, const int32_t *const *seqs, const int64_t *lens,
                   const int64_t *from, const uint8_t *const *flags, int mean, double *out) {
    spex_remote *r = user;
    for (int64_t i = 0; i < n; i++)
        out[i] = NAN;
    if (n == 0) return SPEX_OK;
    if (mean && !r->reference)
        return spex_seterr(r->ctx, SPEX_E_INVAL, "mean ablation without reference sequences");
    int64_t *start = malloc((size_t)(n + 1) * sizeof *start), nj = 0;
    if (!start) return spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        if (!nj || flags[i] != flags[i - 1] || i - start[nj - 1] == r->o.prompts_per_request)
            start[nj++] = i;
    start[nj] = n;
    spexi_job *jobs = spexi_new_jobs(r, nj);
    int rc = jobs ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t k = 0; k < nj && !rc; k++) {
        json_t *o = json_object(), *p = json_array(), *f = json_array();
        for (int64_t i = start[k]; i < start[k + 1]; i++) {
            json_array_append_new(p, spexi_ids_array(seqs[i], lens[i]));
            json_array_append_new(f, json_integer((json_int_t)from[i]));
        }
        json_object_set_new(o, "model", json_string(r->model));
        json_object_set_new(o, "prompt", p);
        json_object_set_new(o, "spex_logprobs_from", f);
        json_object_set_new(o, "max_tokens", json_integer(0));
        json_object_set_new(o, "prompt_logprobs", json_integer(0));
        json_object_set_new(o, "spex_ablate", ablate_field(r, flags[start[k]], mean));
        jobs[k].path = "/v1/completions";
        jobs[k].tag = k;
        if (!(jobs[k].body = spexi_json_dump(o)))
            rc = spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    }
    ablated_run s = {r, start, seqs, lens, from, out};
    if (!rc) rc = spexi_run_jobs(r, jobs, nj, ablated_done, &s);
    spexi_free_jobs(jobs, nj);
    free(start);
    return rc;
}

int spex_remote_heads_scorer(spex_remote *r, spex_heads_scorer *out) {
    memset(out, 0, sizeof *out);
    if (!r->spex_ext)
        return spex_seterr(r->ctx, SPEX_E_UNSUPPORTED,
                           "the mechanistic lens over servers needs spex serve (its "
                           "\"spex_ablate\" extension) at every endpoint");
    if (!r->n_layers) {
        spexi_job *jobs = spexi_new_jobs(r, 1);
        if (!jobs) return SPEX_E_NOMEM;
        jobs[0].path = "/v1/models";
        jobs[0].fixed_ep = 0;
        int rc = spexi_run_jobs(r, jobs, 1, models_done, r);
        spexi_free_jobs(jobs, 1);
        if (rc) return rc;
    }
    out->user = r;
    out->n_layers = r->n_layers;
    out->n_heads = r->n_heads;
    out->tokenize = h_tokenize;
    out->set_reference = h_set_reference;
    out->score = h_score;
    return SPEX_OK;
}
