/* LD_PRELOAD shim for Janus on loopback only (tests, CI, a laptop with no network).
 *
 * libnice, which Janus uses for ICE, skips every interface flagged IFF_LOOPBACK when it
 * gathers host candidates, and Janus has no setting to keep it. Clearing the flag in what
 * getifaddrs() returns makes 127.0.0.1 an ordinary host candidate; Janus's
 * ice_enforce_list = "127.0.0.1" then keeps only that one. Nothing else changes.
 * Build: cc -shared -fPIC -O2 -o noloopback.so noloopback.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>

int getifaddrs(struct ifaddrs **ifap) {
    static int (*real)(struct ifaddrs **) = 0;
    if (!real)
        real = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
    int rc = real(ifap);
    if (rc == 0)
        for (struct ifaddrs *i = *ifap; i; i = i->ifa_next)
            i->ifa_flags &= ~IFF_LOOPBACK;
    return rc;
}
