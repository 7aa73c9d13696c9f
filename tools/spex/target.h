/* Targets of `spex explain`: what is explained (a game, a program or a lens)
 * turned into a value function, its feature names and its cache fingerprint.
 * Each target is one file, target_<name>.c, with its own option table, and
 * one line in the registry (targets.c); cmd_explain.c builds its options and
 * --help from the registry. Adding a lens: one new file, one registry line. */
#ifndef SPEX_CLI_TARGET_H
#define SPEX_CLI_TARGET_H

#include "cli.h"
#include "spex/explain.h"
#include "spex/report.h"
#include "spex/value.h"

typedef struct cli_target {
    spex_valuefn vf;    /* the value function (released by cli_target_close) */
    spex_valuefn inner; /* under MPI, on rank 0: the target's own, kept for its state */
    int64_t n;          /* features */
    char **names;       /* n feature names (malloc'ed) or NULL for x0.. */
    char *fingerprint;  /* cache key: every setting that changes the value (malloc'ed) */
    char *label;        /* short description for `spex cache list` (malloc'ed) */
    void *state;        /* lens state, freed by free_state after vf is released */
    void (*free_state)(void *state);
    /* optional: a lens's own report after the table (e.g. the prompt shaded
     * by feature); NULL for none */
    int (*report)(void *state, spex_ctx *ctx, const spex_result *res, FILE *f);
    /* optional: the text around the features for --format html (sets prose,
     * prefix, suffix, leads and notes of *ho, with strings owned by state);
     * NULL: the features are shown as chips */
    int (*html)(void *state, spex_html_opts *ho);
} cli_target;

/* One kind of target: its option table (the --help group of the same name)
 * and how to open it. Each lives in its own file, target_<name>.c, that
 * defines `const cli_target_kind cli_target_<name>`, and is listed by one
 * line in the registry (targets.c). Targets never call each other; what two
 * share lives in cli.c or a helper such as cli_llm.c. */
typedef struct cli_target_kind {
    const char *name;      /* "game": target_game.c, cli_target_game */
    const char *main;      /* the option that names the target ("game" for --game); targets
                              sharing one (--llm) are told apart by claims */
    const char *usage;     /* how to name it on the command line, for --help */
    const char *about;     /* what it explains, for --help (at most ~35 bytes: one
                              line beside the longest usage) */
    const cli_opt *opts;   /* its own options ({NULL}-terminated; values unused) */
    const cli_opt *shared; /* options shared with other targets (cli_llm_opts), or NULL;
                              listed once, with the first target that names them */
    /* Among the targets whose main option is given, the first whose claims
     * says yes is opened; claims NULL means "the main option alone", tried
     * after those with a claims function. */
    int (*claims)(const cli_opt *o);
    /* Fills *t from the parsed options o (every target's and the general
     * ones); `eo` carries the seed and the other run settings a lens may
     * need. Returns CLI_OK, or an exit status after printing the problem;
     * cli_target_close releases *t either way. */
    int (*open)(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo, cli_target *t);
} cli_target_kind;

/* cmd_explain.c, shared with cmd_work.c: the option table of `spex explain`
 * (every target's options and the general ones; malloc'ed, {NULL}-
 * terminated, NULL after printing the problem), and opening the one target
 * the parsed options name (an exit status after printing the problem). */
cli_opt *cli_explain_opts(void);
int cli_target_open(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo, cli_target *t);
/* --seed, --threads, --batch-size into eo and ctx, --cache-fail into
 * *cache_stop (left as is when not given); CLI_USAGE after printing the
 * problem (cmd names the command). */
int cli_run_opts(spex_ctx *ctx, const cli_opt *o, const char *cmd, spex_explain_opts *eo,
                 int *cache_stop);

/* targets.c: every kind, in --help order, NULL-terminated. */
extern const cli_target_kind *const cli_target_kinds[];
void cli_target_close(cli_target *t);
/* validate.c: --validate K, re-queries the top k interactions of res through
 * t's value function: predicted vs measured per interaction (rows borrow
 * res's index arrays), printed in the terminal and in the HTML report. */
typedef struct cli_validation {
    spex_validation_row *rows;    /* n of them (malloc'ed) */
    int64_t n, n_masks;           /* rows; masks (with repeats) */
    int64_t n_distinct, n_cached; /* distinct masks, of which from the cache */
    double worst;                 /* largest |predicted - measured| */
    double full_pred, full_meas;
} cli_validation;
int cli_validate(spex_ctx *ctx, cli_target *t, const spex_explain_opts *eo, const spex_result *res,
                 int64_t k, cli_validation *out);
void cli_validation_print(const cli_validation *v, const spex_result *res, FILE *f);
void cli_validation_clear(cli_validation *v);

#endif
