/* SPDX-License-Identifier: MIT */
/*
 * `softvfio exec [OPTIONS] -- PROGRAM [ARGS...]`: run an unmodified VFIO
 * program on softvfio, through the preload library libsoftvfio-preload.so.
 */
#ifndef SOFTVFIO_EXEC_H
#define SOFTVFIO_EXEC_H

/* The command: parses argv (argv[0] is "exec"); returns the exit status. */
int svf_exec_main(int argc, char **argv);
extern const char svf_exec_help[];

#endif
