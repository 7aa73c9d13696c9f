/* Targets of `spex explain`: what is explained (a lens) turned into a value
 * function, its feature names and its cache fingerprint. Each lens lives in
 * its own file (target_basic.c: --game and --exec; target_<lens>.c for the
 * others) and plugs in through one cli_target_open_* function listed in
 * target_open() of cmd_explain.c. */
#ifndef SPEX_CLI_TARGET_H
#define SPEX_CLI_TARGET_H

#include "cli.h"
#include "spex/explain.h"
#include "spex/heads.h"
#include "spex/report.h"
#include "spex/value.h"

typedef struct cli_target {
    spex_valuefn vf;     /* the value function (released by cli_target_close) */
    int64_t n;           /* features */
    char **names;        /* n feature names (malloc'ed) or NULL for x0.. */
    char *fingerprint;   /* cache key: every setting that changes the value (malloc'ed) */
    char *label;         /* short description for `spex cache list` (malloc'ed) */
    void *state;         /* lens state, freed by free_state after vf is released */
    void (*free_state)(void *state);
    /* optional: a lens's own report after the table (e.g. the prompt shaded
     * by feature); NULL for none */
    int (*report)(void *state, spex_ctx *ctx, const spex_result *res, FILE *f);
    /* optional: the text around the features for --format html (sets prose,
     * prefix, suffix, leads and notes of *ho, with strings owned by state);
     * NULL: the features are shown as chips */
    int (*html)(void *state, spex_html_opts *ho);
} cli_target;

/* Each returns CLI_OK with *t filled, 1 ("not mine") when its main option is
 * absent, or an exit status after printing the problem. `eo` carries the seed
 * and the other run settings a lens may need. */
int cli_target_open_game(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo,
                         cli_target *t);
int cli_target_open_exec(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo,
                         cli_target *t);
/* target_llm.c: --llm M.gguf with --prompt/--prompt-file (spex/prompt.h) */
int cli_target_open_llm(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo,
                        cli_target *t);
/* target_data.c: --data TRAIN.csv, the data-attribution lens (spex/data.h) */
int cli_target_open_data(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo,
                         cli_target *t);
/* target_heads.c: the mechanistic lens (--heads / --mlp), opened by
 * target_llm.c over its model and prompt. cli_heads_open prints problems and
 * returns an exit status. */
typedef struct cli_heads cli_heads;
int cli_heads_requested(const cli_opt *o);
int cli_heads_open(spex_ctx *ctx, const cli_opt *o, spex_llm *m, spex_prompt *p,
                   cli_heads **out);
void cli_heads_free(cli_heads *c);
spex_heads *cli_heads_lens(cli_heads *c);
/* The lens's settings that change a value (for the cache fingerprint). */
const char *cli_heads_settings(const cli_heads *c);
int cli_heads_report(cli_heads *c, spex_ctx *ctx, const spex_result *res, FILE *f);
/* Prints the five largest interactions of order >= 2 of res in words
 * ("A × B: +0.123"), feature i named by name(obj, i). */
void cli_print_top_interactions(FILE *f, const spex_result *res, int64_t n,
                                const char *(*name)(const void *obj, int64_t i),
                                const void *obj);
/* Reads a text file of at most 1 MiB with no NUL byte into a malloc'ed
 * string; prints "cannot open the <what> '<path>'" and the like and returns
 * CLI_INPUT on failure. */
int cli_read_text_file(const char *what, const char *path, char **out);
void cli_target_close(cli_target *t);
/* validate.c: --validate K, re-queries the top k interactions of res through
 * t's value function: predicted vs measured per interaction (rows borrow
 * res's index arrays), printed in the terminal and in the HTML report. */
typedef struct cli_validation {
    spex_validation_row *rows; /* n of them (malloc'ed) */
    int64_t n, n_masks;        /* rows; masks (with repeats) */
    int64_t n_distinct, n_cached; /* distinct masks, of which from the cache */
    double worst;              /* largest |predicted - measured| */
    double full_pred, full_meas;
} cli_validation;
int cli_validate(spex_ctx *ctx, cli_target *t, const spex_explain_opts *eo,
                 const spex_result *res, int64_t k, cli_validation *out);
void cli_validation_print(const cli_validation *v, const spex_result *res, FILE *f);
void cli_validation_clear(cli_validation *v);
/* A malloc'ed printf-formatted string, NULL when out of memory. */
char *cli_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
