// SPDX-License-Identifier: GPL-2.0
/* lwt_xmit.c - lwt_prog.c's body as an lwt_xmit program (see there). */
#define LWT_XMIT 1
#include "lwt_prog.c"
