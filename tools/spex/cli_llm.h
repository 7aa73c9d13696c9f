/* What the two --llm targets of `spex explain` share (the prompt lens,
 * target_llm.c, and the mechanistic lens, target_heads.c): the --llm option
 * table, the checks and loading of the model and prompt, and the "value:"
 * line of their reports. Defined in cli_llm.c; the targets never call each
 * other. */
#ifndef SPEX_CLI_LLM_H
#define SPEX_CLI_LLM_H

#include "cli.h"
#include "spex/prompt.h"
#include "spex/remote.h"

/* --server, --api, --model, --concurrency, --prompts-per-request,
 * --api-key-env: a model behind inference servers (spex/remote.h), the
 * prompt lens's other way to reach a model. */
extern const cli_opt cli_server_opts[];

/* --llm, --prompt, --prompt-file, --prefix, --suffix, --target, --contrast
 * ({NULL}-terminated; values unused): the `shared` table of both kinds. */
extern const cli_opt cli_llm_opts[];

/* A loaded model and prompt (cli_llm_close releases them). */
typedef struct cli_llm {
    spex_llm *m;    /* the model, in process (--llm) ... */
    spex_remote *r; /* ... or behind servers (--server) */
    spex_prompt *p;
    const char *model;  /* the --llm path (borrowed option value), or the served model's id */
    const char *prompt; /* the prompt text: --prompt, or the file's contents */
    char *text;         /* the --prompt-file contents (malloc'ed) or NULL */
    char hex[65];       /* SHA-256 of the model file (--llm) */
} cli_llm;

/* "sha256=<file's>" (--llm) or "server-model=<id>" (--server): the model's
 * part of a cache fingerprint, never a URL or a key (malloc'ed). */
char *cli_llm_model_key(const cli_llm *l);

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
 * prompt, loads the model (--llm) or connects to the servers (--server,
 * saying on stderr what it found) and builds the prompt into *l.
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
