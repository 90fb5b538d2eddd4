#ifndef CHAT_CHIREDIS_SHIM_H
#define CHAT_CHIREDIS_SHIM_H
/* Same header order rule as CLibevent: libc first, then event2 via the adapter. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#endif
