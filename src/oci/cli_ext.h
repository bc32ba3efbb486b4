/* corral-oci's own commands, beyond runc's: `image` (import, list, rm,
 * bundle, unbundle) and `net` (attach, detach, rm-bridge).  main.c hands
 * them argv from the command name on; they return 0, or a negative errno
 * with the message in err_msg(). */
#ifndef CORRAL_OCI_CLI_EXT_H
#define CORRAL_OCI_CLI_EXT_H

int cli_image(int argc, char **argv);
int cli_net(int argc, char **argv);

#endif
