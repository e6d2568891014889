/* main.c: the camserve binary: subcommand dispatch. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char HELP[] =
    "camserve " CAM_VERSION ": explain image classifiers with class activation maps\n"
    "\n"
    "usage: camserve <command> [options]   (camserve <command> --help for details)\n"
    "\n"
    "commands:\n"
    "  serve   the HTTP service: scores, CAM overlays and boxes for uploaded images\n"
    "  run     one forward pass on a raw float32 tensor (conformance testing)\n"
    "  info    a model's inputs, outputs, operators, memory plan and BLAS kernel\n"
    "  bench   forward-pass latency, one JSON line comparable with ort-bench\n"
    "  predict classify and explain images: scores, class activation maps, boxes, overlays\n"
    "  eval    the CAM paper's localization metrics on a labelled image folder\n";

int main(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) { printf("camserve %s\n", CAM_VERSION); return 0; }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0) return cam_cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "info") == 0) return cam_cmd_info(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0) return cam_cmd_bench(argc - 2, argv + 2);
    if (strcmp(cmd, "predict") == 0) return cam_cmd_predict(argc - 2, argv + 2);
    if (strcmp(cmd, "eval") == 0) return cam_cmd_eval(argc - 2, argv + 2);
    if (strcmp(cmd, "serve") == 0) return cam_cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "healthcheck") == 0) { extern int cam_cmd_healthcheck(int, char **); return cam_cmd_healthcheck(argc - 2, argv + 2); }
    fprintf(stderr, "camserve: unknown command '%s'\n\n%s", cmd, HELP);
    return 2;
}
