#!/usr/bin/env bash
# The documented manual procedure for 168.63.129.16, as a user types it on a Linux VM, plus the
# DNS rows wirecheck also checks: the baseline scripts/bench measures wirecheck against.
# Nothing is bounded beyond what the tools do by default (traceroute's 30 hops, dig's 3 tries
# of 5 s, curl's no timeout at all): that is the point of the comparison.
#
# Usage (as root: traceroute -T needs a raw socket), in the directory the report goes to:
#   scripts/manual-procedure.sh [NAME]     NAME: the name to resolve (default: the short
#                                          hostname, completed by resolv.conf's search list)
# Every command appends to 168-63-129-16_test.txt under the procedure's headers.
#
# Safety: 168.63.129.16 is a real address. This script runs only on an Azure VM (Azure's
# chassis asset tag) or inside a network namespace other than the machine's own (the lab's
# VM namespace, where scripts/bench runs it); anywhere else it stops before sending anything.
set -u

TARGET=168.63.129.16
AZURE_ASSET_TAG=7783-7084-3265-9085-8269-3286-77
OUT=168-63-129-16_test.txt

# Builtins only, so the guard costs nothing measurable: `-ef` compares this shell's network
# namespace with the named ones (`ip netns add`); /proc/1/ns/net is often unreadable there.
in_named_netns() {
    local ns
    for ns in /run/netns/*; do
        [ /proc/self/ns/net -ef "$ns" ] && ! [ "$ns" -ef /proc/1/ns/net ] && return 0
    done
    return 1
}
tag=
[ -r /sys/class/dmi/id/chassis_asset_tag ] && read -r tag </sys/class/dmi/id/chassis_asset_tag
if [ "$tag" != "$AZURE_ASSET_TAG" ] && ! in_named_netns; then
    echo "manual-procedure.sh: refusing to probe $TARGET: not an Azure VM (chassis asset tag" \
        "is not $AZURE_ASSET_TAG) and not in a named network namespace; run it on an Azure" \
        "VM, or in the lab as root: ip netns exec wcl-NAME-vm $0" >&2
    exit 3
fi

name="${1:-$(hostname -s)}"

echo "Testing 80 Port 80" >>"$OUT"
traceroute -T -p 80 "$TARGET" >>"$OUT"
echo "Testing 80 Port 32526" >>"$OUT"
traceroute -T -p 32526 "$TARGET" >>"$OUT"
echo "Test Versions" >>"$OUT"
curl "http://$TARGET/?comp=versions" >>"$OUT"
echo "Test DNS UDP" >>"$OUT"
dig @"$TARGET" +search "$name" >>"$OUT"
echo "Test DNS TCP" >>"$OUT"
dig @"$TARGET" +tcp +search "$name" >>"$OUT"
echo "Test DNS Reverse" >>"$OUT"
dig -x "$TARGET" >>"$OUT"
# Like the procedure, it reports nothing itself: the person reads the file.
exit 0
