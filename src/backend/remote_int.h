/* Internals of the remote scorer (spex/remote.h): the parsers of server
 * replies (remote_reply.c, untrusted bytes, fuzzed by
 * tests/fuzz/fuzz_remote_reply.c), used by remote.c and remote_score.c. Every
 * parser quotes the first 200 bytes of a reply it cannot use. */
#ifndef SPEX_REMOTE_INT_H
#define SPEX_REMOTE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "spex/remote.h"

/* The first 200 bytes of a reply, control characters escaped, into buf. */
void spexi_quote_reply(const char *body, size_t len, char *buf, size_t cap);

/* A scoring reply for n sequences (seqs[i]: lens[i] tokens, scored from
 * from[i]) in the given dialect: out[i] = the sum of the log-probs of
 * tokens from[i].. of sequence i. SPEX_E_PARSE: not JSON or a field missing
 * or mistyped (the message names it); SPEX_E_VALUE: the ids the server
 * echoes differ from those sent (which sequence, position, both ids).
 * llama-server: a JSON array of n results, or one object when n is 1. */
int spexi_parse_score_reply(spex_ctx *ctx, spex_remote_api api, const char *body, size_t len,
                            int64_t n, const int32_t *const *seqs, const int64_t *lens,
                            const int64_t *from, double *out);
/* {"tokens": [ids]} (llama-server, vLLM, spex serve) -> *toks (owned, spex_free). */
int spexi_parse_tokens_reply(spex_ctx *ctx, const char *body, size_t len, int32_t **toks,
                             int64_t *n);
/* spex serve's list form: {"tokens": [[ids], ...]}, k id arrays -> toks[i]
 * (owned), n[i]; on failure none is kept. */
int spexi_parse_tokens_list_reply(spex_ctx *ctx, const char *body, size_t len, int64_t k,
                                  int32_t **toks, int64_t *n);
/* {"content": text} or {"prompt": text} (detokenize) -> *text (owned). */
int spexi_parse_content_reply(spex_ctx *ctx, const char *body, size_t len, char **text);
/* choices[0].text of a completion -> *text (owned), *stopped = finish_reason "stop". */
int spexi_parse_text_reply(spex_ctx *ctx, const char *body, size_t len, char **text, int *stopped);
/* /v1/models: want NULL -> the single model listed (SPEX_E_VALUE when there
 * are several or none); else want must be listed. *id owned; with owner
 * not NULL, *owner = that model's "owned_by" (owned; NULL when absent):
 * "spex" for spex serve, "llamacpp" for llama-server. */
int spexi_parse_models_reply(spex_ctx *ctx, const char *body, size_t len, const char *want,
                             char **id, char **owner);
/* /v1/models of spex serve: the model's "n_layers" and "n_heads" (its
 * extension), each in [1, 4096]; SPEX_E_PARSE when absent. */
int spexi_parse_components_reply(spex_ctx *ctx, const char *body, size_t len, const char *model,
                                 int64_t *n_layers, int64_t *n_heads);

#endif
