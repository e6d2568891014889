/* cli.h: the camserve subcommands and helpers they share. */
#ifndef CAM_CLI_H
#define CAM_CLI_H

#include "camserve.h"
#include "modeldir.h"

#include <stdbool.h>

int cam_cmd_run(int argc, char **argv);
int cam_cmd_info(int argc, char **argv);
int cam_cmd_bench(int argc, char **argv);
int cam_cmd_predict(int argc, char **argv);
int cam_cmd_eval(int argc, char **argv);
int cam_cmd_serve(int argc, char **argv);

/* Argument helpers: `--name value` or `--name=value`.  *i is advanced past
 * a consumed value.  Return true when argv[*i] is this flag. */
bool cli_flag_str(int argc, char **argv, int *i, const char *name, const char **out);
bool cli_flag_int(int argc, char **argv, int *i, const char *name, int *out, int lo, int hi);
bool cli_is_help(const char *arg);
/* Prints "camserve: <msg>" to stderr; returns 2 for usage errors. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Loads DIR (config.json + model) with the given batch; prints the reason on failure. */
cam_model *cli_load_model(const char *dir, int batch, cam_modeldir *md);
/* Peak resident set size of this process in bytes (from /proc/self/status). */
size_t cli_peak_rss(void);

#endif
