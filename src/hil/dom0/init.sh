#!/bin/sh
# /init of the dom0 that `ballast hil --dom0 linux` boots (busybox sh, PID 1 of Debian's Linux 6.1
# as a PVH dom0 on Xen 4.17): starts Xen's toolstack, `xl create`s the ballast domU, runs the
# admin's commands from /etc/ballast/steps (and one target written to xenstore past xl) and the
# grant rounds from /etc/ballast/grants, and reports each as one `ballast-dom0: ` line of
# key=value fields, which the host parses and checks (src/hil/dom0/report.rs). Ends QEMU through
# isa-debug-exit (status 33) whatever happened: the host decides pass or fail.
/bin/busybox mkdir -p /proc /sys /dev /run /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/usr/lib/xen-4.17/bin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
# DOMAIN CONFIG WAIT_MS SHORT_WAIT_MS BOOT_WAIT_MS CONSOLE_S SHUTDOWN_S GRANT_WAIT_S
# GRANT_SHORT_WAIT_S, written by the host.
. /etc/ballast/run.conf

say() { echo "ballast-dom0: $*"; }
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
finish() {
    say "done t_ms=$(now_ms)"
    # isa-debug-exit at port 0xf4: QEMU exits with (0x10 << 1) | 1 = 33.
    printf '\020' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
    sleep 5
    poweroff -f
}
fail() { say "fail what=$1 t_ms=$(now_ms)"; finish; }

say "phase init t_ms=$(now_ms)"
for module in xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc; do
    insmod "/lib/modules/$module.ko" || fail "insmod-$module"
done
mkdir -p /proc/xen && mount -t xenfs xenfs /proc/xen || fail mount-xenfs
mkdir -p /run/xen /run/xenstored /run/lock /var/lib/xen /var/log/xen/console
ln -sfn /run /var/run
ln -sfn /run/lock /var/lock

XENSTORED_ROOTDIR=/run/xenstored xenstored --pid-file /run/xenstored.pid
polls=0
until xenstore-read -s / >/dev/null 2>&1; do
    polls=$((polls + 1))
    [ $polls -ge 300 ] && fail xenstored
    usleep 50000
done
xen-init-dom0 || fail xen-init-dom0
xenconsoled --pid-file /run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console ||
    fail xenconsoled
say "phase toolstack t_ms=$(now_ms)"

start=$(now_ms)
timeout 120 xl create "$CONFIG"
rc=$?
DOMID=$(xl domid "$DOMAIN" 2>/dev/null)
say "created rc=$rc domid=${DOMID:--} ms=$(($(now_ms) - start))"
[ $rc = 0 ] && [ -n "$DOMID" ] || fail xl-create
xl list

# The domain's own keys, `-` when absent.
key() { xenstore-read "/local/domain/$DOMID/$1" 2>/dev/null || echo -; }
# xl list's Mem (MiB) for the domain; empty once it is gone.
xl_mib() { xl list "$DOMAIN" 2>/dev/null | awk 'NR == 2 { print $3 }'; }
# Xen's reservation and maximum (KiB) for the domain, as xentop reads them from Xen.
xen_kib() { xentop -b -i 1 -f 2>/dev/null | awk -v name="$DOMAIN" '$1 == name { print $5, $7 }'; }
state() {
    set -- $(xen_kib)
    mib=$(xl_mib)
    echo "target_kib=$(key memory/target) static_max_kib=$(key memory/static-max)" \
        "xl_mib=${mib:--} xen_kib=${1:--} xen_max_kib=${2:--}" \
        "ballast_target_pages=$(key data/ballast/target-pages) ballast_status=$(key data/ballast/status)"
}
# PoD entries and cache size of the domain, from Xen's `q` debug key.
pod_counts() {
    xl dmesg -c >/dev/null 2>&1
    xl debug-keys q >/dev/null 2>&1
    xl dmesg 2>/dev/null | awk -v domain="$DOMID:" '
        /General information for domain/ { current = $NF }
        /PoD entries=/ && current == domain {
            for (i = 1; i <= NF; i++) {
                split($i, pair, "=")
                if (pair[1] == "entries") entries = pair[2]
                if (pair[1] == "cachesize") cache = pair[2]
            }
            print entries, cache
            exit
        }'
}
# Report the PoD counts as `pod when=$1`; with $2 (ms), poll until entries equal the cache size
# or that long has passed.
pod() {
    start=$(now_ms)
    while :; do
        set -- "$1" "${2:-0}" $(pod_counts)
        [ -n "$3" ] && [ "$3" = "$4" ] && break
        [ $(($(now_ms) - start)) -ge "$2" ] && break
        sleep 1
    done
    say "pod when=$1 entries=${3:--} cache=${4:--} ms=$(($(now_ms) - start)) $(state)"
    # A guest that did not balloon out at boot will not follow xl either: fail its steps fast.
    [ "$1" = boot ] && [ "$3" != "$4" ] && WAIT_MS=$SHORT_WAIT_MS
}
# Whether xl list shows $1 MiB, within the 1 MiB xl adds.
shows() { [ -n "$MIB" ] && [ "$MIB" -ge $(($1 - 1)) ] && [ "$MIB" -le $(($1 + 1)) ]; }
# Poll every 100 ms until xl list shows $1 MiB or, with $2 = clamp, until the guest reports under
# data/ballast/ that it clamped the target (status clamped:*, and xl list shows its target-pages)
# or refused it (status refused:*); sets REACHED (yes, clamped, refused, no, gone) and MS.
wait_for() {
    while :; do
        MIB=$(xl_mib)
        [ -z "$MIB" ] && { REACHED=gone; break; }
        shows "$1" && { REACHED=yes; break; }
        if [ "$2" = clamp ]; then
            case $(key data/ballast/status) in
                clamped:*)
                    pages=$(key data/ballast/target-pages)
                    case $pages in
                        '' | *[!0-9]*) ;;
                        *) shows $((pages / 256)) && { REACHED=clamped; break; } ;;
                    esac
                    ;;
                refused:*) REACHED=refused; break ;;
            esac
        fi
        [ $(($(now_ms) - T0)) -ge "$WAIT_MS" ] && { REACHED=no; break; }
        usleep 100000
    done
    MS=$(($(now_ms) - T0))
}
# Poll every 100 ms until Xen's count of the domain equals its maximum (xentop), or until
# WAIT_MS has passed since the command; sets REACHED (yes, no, gone) and MS.
wait_for_maximum() {
    while :; do
        set -- $(xen_kib)
        [ -z "$1" ] && { REACHED=gone; break; }
        [ "$1" = "$2" ] && { REACHED=yes; break; }
        [ $(($(now_ms) - T0)) -ge "$WAIT_MS" ] && { REACHED=no; break; }
        usleep 100000
    done
    MS=$(($(now_ms) - T0))
}
# Once xl list shows a target of $1 MiB: poll every 100 ms until the guest reports under
# data/ballast/ that it holds it (status reached, target-pages $1 MiB in pages), or until WAIT_MS
# has passed since the command; state() then shows what it reported.
wait_for_report() {
    while :; do
        [ "$(key data/ballast/status)" = reached ] &&
            [ "$(key data/ballast/target-pages)" = $(($1 * 256)) ] && break
        [ $(($(now_ms) - T0)) -ge "$WAIT_MS" ] && break
        usleep 100000
    done
}
# After a target of $1 MiB written past xl: poll every 100 ms until the guest has answered it under
# data/ballast/ (target-pages $1 MiB in pages, or a clamped or refused status), or until WAIT_MS.
wait_for_answer() {
    while :; do
        [ "$(key data/ballast/target-pages)" = $(($1 * 256)) ] && break
        case $(key data/ballast/status) in clamped:* | refused:*) break ;; esac
        [ $(($(now_ms) - T0)) -ge "$WAIT_MS" ] && break
        usleep 100000
    done
}

pod boot "$BOOT_WAIT_MS"
xl console "$DOMAIN" >/run/console.txt 2>&1 </dev/null &
console=$!
sleep "$CONSOLE_S"
kill $console 2>/dev/null
say "console lines=$(wc -l </run/console.txt)"
head -n 200 /run/console.txt | while IFS= read -r line; do say "console | $line"; done

n=0
while read -r op mib wait <&3; do
    n=$((n + 1))
    T0=$(now_ms)
    if [ "$op" = target-write ]; then
        xenstore-write "/local/domain/$DOMID/memory/target" $((mib * 1024))
    else
        timeout 30 xl "$op" "$DOMAIN" "$mib"
    fi
    rc=$?
    REACHED=-
    MS=-
    if [ "$op" = mem-set ] && [ $rc = 0 ] && [ "$wait" != none ]; then
        wait_for "$mib" "$wait"
        [ "$REACHED" = yes ] && wait_for_report "$mib"
    fi
    [ "$wait" = max ] && [ $rc = 0 ] && wait_for_maximum && wait_for_answer "$mib"
    say "step n=$n op=$op mib=$mib rc=$rc reached=$REACHED ms=$MS wait_ms=$WAIT_MS $(state)"
    # A guest that does not move: fail the remaining steps fast.
    [ "$REACHED" = no ] && WAIT_MS=$SHORT_WAIT_MS
    [ $n = 1 ] && pod after-step-1
    if [ "$wait" = clamp ]; then
        xenstore-ls -f "/local/domain/$DOMID/data" 2>/dev/null |
            while IFS= read -r line; do say "data after=$n | $line"; done
    fi
done 3</etc/ballast/steps

# The grant rounds, one `ROUND MODE PAGES REVOKE CLAIM` line each (`-` for none): ballast-granter
# grants the pages to the domU's driver through /dev/xen/gntalloc, offers them under the domain's
# data/ballast/, waits for the answer and prints its own `grant` line. Once a round has timed out
# the others wait briefly; after the first, the offer's node is listed with its permissions.
grant_wait=$GRANT_WAIT_S
while read -r round mode pages revoke claim <&3; do
    set -- --domid "$DOMID" --round "$round" --mode "$mode" --pages "$pages" \
        --timeout-s "$grant_wait"
    [ "$revoke" != - ] && set -- "$@" --revoke-index "$revoke"
    [ "$claim" != - ] && set -- "$@" --claim-domid "$claim"
    line=$(ballast-granter "$@")
    echo "$line"
    case $line in *outcome=timeout*) grant_wait=$GRANT_SHORT_WAIT_S ;; esac
    if [ "$round" = 1 ]; then
        xenstore-ls -fp "/local/domain/$DOMID/data/ballast" 2>/dev/null |
            while IFS= read -r entry; do say "grant-data | $entry"; done
    fi
done 3</etc/ballast/grants

start=$(now_ms)
timeout "$SHUTDOWN_S" xl shutdown -w "$DOMAIN"
rc=$?
ms=$(($(now_ms) - start))
if xl domid "$DOMAIN" >/dev/null 2>&1; then
    say "shutdown rc=$rc gone=no ms=$ms"
    xl destroy "$DOMAIN"
    say "destroyed rc=$?"
else
    say "shutdown rc=$rc gone=yes ms=$ms"
fi
log="/var/log/xen/console/guest-$DOMAIN.log"
say "console-log lines=$(cat "$log" 2>/dev/null | wc -l)"
head -n 200 "$log" 2>/dev/null | while IFS= read -r line; do say "console-log | $line"; done
finish
