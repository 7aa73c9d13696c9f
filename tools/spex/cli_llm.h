/* What the two --llm targets of `spex explain` share (the prompt lens,
 * target_llm.c, and the mechanistic lens, target_heads.c): the --llm option
 * table, the checks and loading of the model and prompt, and the "value:"
 * line of their reports. Defined in cli_llm.c; the targets never call each
 * other. */
#ifndef SPEX_CLI_LLM_H
#define SPEX_CLI_LLM_H

#include "cli.h"
#include "spex/prompt.h"

/* --llm, --prompt, --prompt-file, --prefix, --suffix, --target, --contrast
 * ({NULL}-terminated; values unused): the `shared` table of both kinds. */
extern const cli_opt cli_llm_opts[];

/* A loaded model and prompt (cli_llm_close releases them). */
typedef struct cli_llm {
    spex_llm *m;
    spex_prompt *p;
    const char *model;  /* the --llm path (borrowed option value) */
    const char *prompt; /* the prompt text: --prompt, or the file's contents */
    char *text;         /* the --prompt-file contents (malloc'ed) or NULL */
    char hex[65];       /* SHA-256 of the model file */
} cli_llm;

/* The checks every --llm lens makes before its own options: exactly one of
 * --prompt, --prompt-file and (when alt is not NULL) --<alt>, the lens's own
 * way to give prompts; none of the options in `foreign` (the other lens's,
 * NULL-terminated), each reported as "--<name><why>"; no --n. Prints the
 * problem and returns CLI_USAGE, else CLI_OK. */
int cli_llm_check(const cli_opt *o, const char *const *foreign, const char *why, const char *alt);
/* Loads the --llm model and its SHA-256 into l (l->m, l->hex, l->model);
 * cli_llm_open does it too. Prints the problem and returns an exit status
 * on failure. */
int cli_llm_load(spex_ctx *ctx, const cli_opt *o, cli_llm *l);
/* Fills the --prefix/--suffix/--target/--contrast fields of *po, reads the
 * prompt, loads the model and builds the prompt (spex_prompt_new) into *l.
 * Prints the problem and returns an exit status on failure; call
 * cli_llm_close either way. */
int cli_llm_open(spex_ctx *ctx, const cli_opt *o, spex_prompt_opts *po, cli_llm *l);
void cli_llm_close(cli_llm *l);
/* The fingerprint tail both lenses end with: prefix, suffix, target (as
 * resolved), contrast and prompt, appended to fp by cli_fp_add. */
char *cli_llm_fp_prompt(char *fp, const cli_llm *l, const char *contrast);
/* "<what> <model file name>: <prompt, cut to 60 bytes>" (what: "llm",
 * "llm heads") for `spex cache list`; malloc'ed, NULL when out of memory. */
char *cli_llm_label(const cli_llm *l, const char *what);
/* Prints "\nvalue: log p("target")[ - log p("contrast")]" (no newline). */
void cli_llm_put_value(FILE *f, const spex_prompt *p);
/* "value: log p("target")[ - log p("contrast")]", malloc'ed; NULL when out
 * of memory. */
char *cli_llm_value_note(const spex_prompt *p);

#endif
