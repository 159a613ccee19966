# shellcheck shell=bash
# Shared functions for the fixture builders (sourced by testdata/build).
#
# Conventions:
# - stdout of the build is reserved for the disk paths; everything here logs
#   to stderr.
# - Every loop device is registered in "$HX_LOOP_REG" *before* it is attached,
#   as "OWNER DEVICE BACKING_FILE" (OWNER: the pid of the job that attached
#   it); hx_loop_cleanup detaches the ones whose kernel backing file is still
#   the registered one, so an interrupted build leaves none attached.
# - Every lvm command goes through hx_lvm: scoped to "$HX_LVM_DEVICES" (a
#   comma list of our own devices), activation disabled, no devices file,
#   no hints, no backup/archive files in /etc/lvm, a private locking dir.

HX_MIB=1048576

hx_log() { printf '[%s] %s\n' "${HX_LOG_TAG:-build}" "$*" >&2; }
# hx_step MESSAGE : log with the ms elapsed since the previous step.
hx_step() {
  local now
  now=$(hx_now_ms)
  hx_log "+$((now - ${HX_STEP_T:-$now})) ms: $*"
  HX_STEP_T=$now
}
hx_die() { printf '[%s] ERROR: %s\n' "${HX_LOG_TAG:-build}" "$*" >&2; exit 1; }

# Time since the epoch in milliseconds (for build timings).
hx_now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }

# ---------------------------------------------------------------------------
# Deterministic identifiers, derived from a kind and numbers with sha256.

# hx_hex N WORDS... -> N lowercase hex digits derived from the words.
hx_hex() {
  local n=$1 h
  shift
  h=$(printf 'hydra-fixture/%s' "$*" | sha256sum)
  printf '%s\n' "${h:0:n}"
}

# hx_uuid WORDS... -> a version-4 shaped UUID derived from the words.
hx_uuid() {
  local h v
  h=$(hx_hex 32 "$@")
  v=$(printf '%x' $(((0x${h:16:1} & 3) | 8)))
  printf '%s-%s-4%s-%s%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" "$v" "${h:17:3}" "${h:20:12}"
}

# hx_lvm_uuid WORDS... -> a 32-character LVM UUID in lvm's 6-4-4-4-4-4-6 form.
hx_lvm_uuid() {
  local h
  h=$(hx_hex 32 "$@")
  printf '%s-%s-%s-%s-%s-%s-%s\n' "${h:0:6}" "${h:6:4}" "${h:10:4}" "${h:14:4}" \
    "${h:18:4}" "${h:22:4}" "${h:26:6}"
}

# hx_serial32 WORDS... -> 8 hex digits, never all zero (FAT volume id, MBR id).
hx_serial32() {
  local h
  h=$(hx_hex 8 "$@")
  [[ $h == 00000000 ]] && h=00000001
  printf '%s\n' "$h"
}

# ---------------------------------------------------------------------------
# Loop devices.

# Create /dev/loopN (or a partition node) from sysfs when it is missing.
# Prints nothing; records partition nodes it made so they are removed again
# (a stale partition node could later point at another device's partition).
hx_ensure_node() {
  local dev=$1 name sys mm
  [[ -b $dev ]] && return 0
  name=${dev#/dev/}
  if [[ -e /sys/block/$name/dev ]]; then
    sys=/sys/block/$name/dev
  else
    sys=$(printf '%s\n' /sys/block/*/"$name"/dev | head -n1)
  fi
  [[ -e $sys ]] || return 1
  mm=$(<"$sys")
  mknod -m 0660 "$dev" b "${mm%%:*}" "${mm##*:}"
  chgrp disk "$dev" 2>/dev/null || true
  if [[ $name == loop*p* ]]; then
    printf '%s\n' "$dev" >>"$HX_LOOP_REG.nodes"
  fi
}

# hx_loop_attach FILE [losetup options...] -> prints /dev/loopN.
# Always attaches with -P (partition scan) so partitions go away on detach.
hx_loop_attach() {
  local file=$1 dev err tries=0 real
  shift
  real=$(readlink -f "$file")
  while :; do
    dev=$(losetup -f) || hx_die "losetup -f failed"
    hx_ensure_node "$dev" || true
    # Register first: cleanup only detaches when the backing file is ours.
    printf '%s %s %s\n' "${HX_OWNER:-$$}" "$dev" "$real" >>"$HX_LOOP_REG"
    if err=$(losetup -P "$@" "$dev" "$real" 2>&1); then
      break
    fi
    tries=$((tries + 1))
    ((tries < 30)) || hx_die "cannot attach $real: $err"
    sleep 0.1
  done
  printf '%s\n' "$dev"
}

# Backing file of a loop device ("" when detached).
hx_loop_backing() {
  local f=/sys/block/${1#/dev/}/loop/backing_file
  if [[ -r $f ]]; then
    local b
    b=$(<"$f") || true
    printf '%s\n' "${b% (deleted)}"
  fi
}

# hx_loop_partitions DEV N... : make partitions N... of DEV visible as
# DEVpN. Works whether the kernel parsed the table itself (full kernel,
# losetup -P) or not (no partition parsers: added via BLKPG by partx).
hx_loop_partitions() {
  local dev=$1 n p i
  shift
  # -u adds what is missing, updates what differs, removes what is gone;
  # it is a no-op when the kernel already created them.
  partx -u "$dev" 1>&2 || partx -a "$dev" 1>&2 || true
  for n in "$@"; do
    p=${dev}p$n
    for ((i = 0; i < 100; i++)); do
      [[ -b $p ]] && break
      if ((i >= 20)) && [[ -e /sys/block/${dev#/dev/}/${p#/dev/}/dev ]]; then
        hx_ensure_node "$p" && break
      fi
      sleep 0.05
    done
    [[ -b $p ]] || hx_die "partition $p did not appear"
  done
}

# hx_loop_detach DEV : drop its partitions and detach it (only if ours).
hx_loop_detach() {
  local dev=$1 back i node
  back=$(hx_loop_backing "$dev")
  [[ -n $back ]] || return 0
  if ! grep -qF " $dev $back" "$HX_LOOP_REG" 2>/dev/null; then
    hx_log "not detaching $dev ($back): not ours"
    return 0
  fi
  partx -d "$dev" >/dev/null 2>&1 || true
  if [[ -s $HX_LOOP_REG.nodes ]]; then
    while read -r node; do
      [[ $node == "${dev}p"* && ! -e /sys/class/block/${node#/dev/} ]] && rm -f "$node"
    done <"$HX_LOOP_REG.nodes"
  fi
  losetup -d "$dev" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    [[ $(hx_loop_backing "$dev") == "$back" ]] || return 0
    sleep 0.05
  done
  hx_log "WARNING: $dev still attached to $back"
  return 1
}

# hx_loop_cleanup all|PID : detach every registered loop device still
# backed by its registered file (only those registered by PID if given).
hx_loop_cleanup() {
  local only=$1 pid dev file
  [[ -f ${HX_LOOP_REG:-} ]] || return 0
  while read -r pid dev file; do
    [[ $only == all || $pid == "$only" ]] || continue
    [[ $(hx_loop_backing "$dev") == "$file" ]] || continue
    hx_loop_detach "$dev" || true
  done < <(tac "$HX_LOOP_REG")
}

# hx_loops_under DIR : print loop devices whose backing file is under DIR.
hx_loops_under() {
  local dir f b
  dir=$(readlink -f "$1")
  for f in /sys/block/loop*/loop/backing_file; do
    [[ -r $f ]] || continue
    b=$(<"$f") || continue
    [[ $b == "$dir"/* ]] && printf '%s %s\n' "$(basename "$(dirname "$(dirname "$f")")")" "$b"
  done
  return 0
}

# ---------------------------------------------------------------------------
# Background jobs: hx_spawn runs a function in a subshell with its own log
# and its own loop cleanup; at most $HX_JOBS run at once.

declare -gA HX_JOB_PIDS=() HX_JOB_T0=()

hx_spawn() {
  local tag=$1
  shift
  while ((${#HX_JOB_PIDS[@]} >= ${HX_JOBS:-2})); do
    hx_wait_one
  done
  mkdir -p "$HX_WORK/logs"
  (
    HX_OWNER=$BASHPID
    HX_LOG_TAG=$tag
    trap 'hx_loop_cleanup "$HX_OWNER"' EXIT
    trap 'exit 143' TERM
    "$@"
  ) >"$HX_WORK/logs/$tag.log" 2>&1 &
  HX_JOB_PIDS[$!]=$tag
  HX_JOB_T0[$!]=$(hx_now_ms)
}

hx_wait_one() {
  local pid rc=0 tag
  wait -n -p pid "${!HX_JOB_PIDS[@]}" || rc=$?
  [[ -n ${pid:-} ]] || hx_die "wait -n returned no job"
  tag=${HX_JOB_PIDS[$pid]}
  unset "HX_JOB_PIDS[$pid]"
  if ((rc != 0)); then
    tail -n 30 "$HX_WORK/logs/$tag.log" >&2 || true
    hx_die "job $tag failed (exit $rc)"
  fi
  hx_log "job $tag done in $(($(hx_now_ms) - HX_JOB_T0[$pid])) ms"
  unset "HX_JOB_T0[$pid]"
}

hx_wait_all() {
  while ((${#HX_JOB_PIDS[@]} > 0)); do
    hx_wait_one
  done
}

# Stop our jobs (on error or signal).
hx_kill_jobs() {
  local pid
  for pid in "${!HX_JOB_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${!HX_JOB_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  HX_JOB_PIDS=()
}

# ---------------------------------------------------------------------------
# LVM, scoped to our devices.

hx_lvm() {
  local cmd=$1
  shift
  [[ -n ${HX_LVM_DEVICES:-} ]] || hx_die "hx_lvm: HX_LVM_DEVICES is empty"
  mkdir -p "$HX_WORK/lvm-lock"
  DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1 lvm "$cmd" \
    --devices "$HX_LVM_DEVICES" \
    --config "global{activation=0 locking_dir=\"$HX_WORK/lvm-lock\"} devices{use_devicesfile=0 obtain_device_list_from_udev=0 hints=\"none\"} backup{backup=0 archive=0}" \
    "$@"
}

# ---------------------------------------------------------------------------
# Partition tables. A layout file has one line per partition, in table
# order: "NUMBER START_BYTES SIZE_BYTES KIND GPTCODE MBRTYPE NAME PARTGUID".

# hx_gpt_write TOOL TARGET SECTOR DISKGUID LAYOUT_FILE : a GPT (128
# entries) written by TOOL: sgdisk or sfdisk (two real writers, so the
# fixtures hold both's output). sgdisk sleeps 1 s after writing.
hx_gpt_write() {
  local tool=$1 target=$2 ss=$3 guid=$4 layout=$5 n start size kind code mbr name pguid
  local -a args=(-o -U "$guid")
  case $tool in
    sgdisk)
      while read -r n start size kind code mbr name pguid; do
        ((start % ss == 0 && size % ss == 0)) || hx_die "p$n not aligned to $ss"
        args+=(-n "$n:$((start / ss)):$(((start + size) / ss - 1))" -t "$n:$code"
          -c "$n:$name" -u "$n:$pguid")
      done <"$layout"
      sgdisk "${args[@]}" "$target" >&2
      ;;
    sfdisk)
      {
        printf 'label: gpt\nlabel-id: %s\nunit: sectors\n\n' "$guid"
        while read -r n start size kind code mbr name pguid; do
          ((start % ss == 0 && size % ss == 0)) || hx_die "p$n not aligned to $ss"
          printf 'start=%d, size=%d, type=%s, uuid=%s, name="%s"\n' \
            $((start / ss)) $((size / ss)) "$code" "$pguid" "$name"
        done <"$layout"
      } | sfdisk --no-reread --no-tell-kernel -q "$target" >&2
      ;;
    *) hx_die "hx_gpt_write: unknown tool $tool" ;;
  esac
}

# hx_mbr_write TARGET LABEL_ID LAYOUT_FILE
# Lines 1-3 are primaries, line 4 the extended partition, 5+ logicals.
hx_mbr_write() {
  local target=$1 id=$2 layout=$3 n start size kind code mbr name pguid
  {
    printf 'label: dos\nlabel-id: 0x%s\nunit: sectors\n\n' "$id"
    while read -r n start size kind code mbr name pguid; do
      printf 'start=%d, size=%d, type=%s\n' $((start / 512)) $((size / 512)) "$mbr"
    done <"$layout"
  } | sfdisk --no-reread --no-tell-kernel -q "$target" >&2
}

# ---------------------------------------------------------------------------
# Filesystems and other content. DEV is a block device (a partition); all
# identifiers are given by the caller.

hx_mk_ext() { # TYPE DEV UUID LABEL
  mke2fs -q -F -t "$1" -U "$3" -L "$4" -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 "$2" >&2
}
hx_mk_xfs() { mkfs.xfs -q -f -K -m uuid="$2" -L "$3" "$1" >&2; }
# mkfs.btrfs refuses a -U UUID that libblkid finds on any block device of
# the host (it scans /sys/block), e.g. the same fixture attached by a test or
# built concurrently. Hide /sys/block from that scan in a private mount
# namespace; the target device is opened by path and needs no /sys/block.
hx_mk_btrfs() {
  # shellcheck disable=SC2016 # expanded by the inner sh
  unshare --mount --propagation private sh -c \
    'mount -t tmpfs hydra-empty /sys/block && exec mkfs.btrfs -q -f -K -U "$2" -L "$3" "$1"' \
    sh "$1" "$2" "$3" >&2
}
hx_mk_vfat() { # BITS DEV SERIAL LABEL
  local out
  out=$(mkfs.vfat -F "$1" -i "$3" -n "$4" "$2" 2>&1) || hx_die "mkfs.vfat $2: $out"
  [[ $out != *WARNING* ]] || hx_die "mkfs.vfat $2: $out"
}
hx_mk_swap() { mkswap -U "$2" -L "$3" "$1" >/dev/null; }

# hx_mk_ntfs DEV SERIAL16 LABEL START_SECTOR : mkntfs, then set the volume
# serial (8 bytes at 0x48) in the boot sector and in its backup in the last
# sector of the volume, since mkntfs has no option for it.
hx_mk_ntfs() {
  local dev=$1 serial=$2 label=$3 start=$4
  mkntfs -Q -q -F -L "$label" -p "$start" -H 255 -S 63 "$dev" >&2
  perl -e '
    my ($dev, $hex) = @ARGV;
    open(my $f, "+<", $dev) or die "open $dev: $!";
    binmode $f;
    sysread($f, my $b, 512) == 512 or die "read";
    substr($b, 3, 8) eq "NTFS    " or die "no NTFS boot sector on $dev";
    my $bps = unpack("v", substr($b, 11, 2));
    my $ns = unpack("Q<", substr($b, 0x28, 8));
    my $ser = pack("Q<", hex($hex));
    for my $off (0x48, $ns * $bps + 0x48) {
      sysseek($f, $off, 0) or die "seek";
      syswrite($f, $ser) == 8 or die "write";
    }
    sysseek($f, $ns * $bps, 0);
    sysread($f, my $bb, 512) == 512 or die "read backup";
    substr($bb, 3, 8) eq "NTFS    " or die "no NTFS backup boot sector at sector $ns";
    close($f) or die;
  ' "$dev" "$serial"
}

# hx_mk_luks VERSION DEV UUID LABEL KEYFILE (LABEL ignored for LUKS1)
hx_mk_luks() {
  local ver=$1 dev=$2 uuid=$3 label=$4 key=$5
  local -a args=(luksFormat -q --disable-locks --type "luks$ver" --uuid "$uuid"
    --key-file "$key" --pbkdf-force-iterations 1000)
  if [[ $ver == 2 ]]; then
    args+=(--pbkdf pbkdf2 --label "$label")
  fi
  cryptsetup "${args[@]}" "$dev" >&2
}

# hx_mk_iso OUT VOLID DATE16 SRCDIR : an iso9660 image with fixed dates
# (DATE16 = YYYYMMDDhhmmsscc; blkid reports it as the UUID).
hx_mk_iso() {
  local out=$1 volid=$2 date=$3 src=$4
  xorriso -report_about SORRY -outdev "$out" -volid "$volid" \
    -volume_date c "$date" -volume_date m "$date" -volume_date uuid "$date" \
    -volume_date all_file_dates "$date" -map "$src" / -commit >&2 2>/dev/null
}

# hx_put_random DEV BYTES SEED : deterministic pseudo-random bytes.
hx_put_random() {
  local dev=$1 bytes=$2 seed=$3
  perl -e 'srand($ARGV[0]); my $n = $ARGV[1];
    while ($n > 0) { my $c = $n < 65536 ? $n : 65536;
      print pack("L*", map { int(rand(4294967296)) } 1 .. $c / 4); $n -= $c; }' \
    "$seed" "$bytes" | dd of="$dev" bs=1M conv=notrunc,fsync status=none iflag=fullblock
}

# ---------------------------------------------------------------------------
# Partition kinds. KIND is one of: ext2 ext3 ext4 xfs btrfs fat12 fat16 fat32
# esp (FAT32 ESP) ntfs swap lvm (PV) luks1 luks2 iso empty random extended.

# GPT partition type GUIDs (sgdisk codes 8200 8E00 8309 0700 EF00 8300).
hx_gpt_code() {
  case $1 in
    swap) echo 0657FD6D-A4AB-43C4-84E5-0933C84B4F4F ;;
    lvm) echo E6D6D379-F507-44C2-A23C-238F2A3DF928 ;;
    luks1 | luks2) echo CA7D7CCB-63ED-4C53-861C-1742536059CC ;;
    ntfs | fat12 | fat16 | fat32) echo EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 ;;
    esp) echo C12A7328-F81F-11D2-BA4B-00A0C93EC93B ;;
    *) echo 0FC63DAF-8483-4772-8E79-3D69D8477DE4 ;;
  esac
}

hx_mbr_type() {
  case $1 in
    swap) echo 82 ;;
    lvm) echo 8e ;;
    ntfs) echo 7 ;;
    fat12) echo 1 ;;
    fat16) echo e ;;
    fat32 | esp) echo c ;;
    random) echo da ;;
    *) echo 83 ;;
  esac
}

# hx_layout SCHEME DISK_BYTES TAG_PREFIX SEED EXT_TYPE TOKEN... -> layout
# lines (see hx_gpt_write). TOKEN is KIND:MIB or KIND:rest (fills the disk
# up to 1 MiB before its end). Partitions are 1 MiB aligned and packed; for
# mbr the first three tokens are primaries, the rest logicals (numbers 5+,
# each after a 1 MiB gap that holds its EBR) inside extended partition 4.
hx_layout() {
  local scheme=$1 disk=$2 prefix=$3 seed=$4 ext=$5
  shift 5
  local cur=$HX_MIB i=0 n kind sz start size end=$((disk - HX_MIB)) ext_start=0
  local -a lines=()
  for tok in "$@"; do
    i=$((i + 1))
    kind=${tok%%:*}
    sz=${tok#*:}
    if [[ $scheme == mbr ]] && ((i >= 4)); then
      ((i == 4)) && ext_start=$cur
      n=$((i + 1))
      start=$((cur + HX_MIB))
    else
      n=$i
      start=$cur
    fi
    if [[ $sz == rest ]]; then
      size=$((end - start))
    else
      size=$((sz * HX_MIB))
    fi
    ((size > 0 && start + size <= end)) || hx_die "$prefix: partition $n ($tok) does not fit"
    cur=$((start + size))
    lines+=("$n $start $size $kind $(hx_gpt_code "$kind") $(hx_mbr_type "$kind") ${prefix}p$(printf '%02d' "$n") $(hx_uuid partuuid "$seed" "$n")")
  done
  for ((i = 0; i < ${#lines[@]}; i++)); do
    if [[ $scheme == mbr ]] && ((i == 3)); then
      printf '4 %d %d extended - %s - -\n' "$ext_start" $((cur - ext_start)) "$ext"
    fi
    printf '%s\n' "${lines[i]}"
  done
}

# hx_ident KIND TAG SEED : sets HX_FSTYPE HX_UUID HX_LABEL HX_VERSION to
# what blkid -p reports for content KIND made by hx_format ("-" = none).
# TAG is a short name like d01p03 (labels derive from it), SEED a string
# unique in the fixture (identifiers derive from it).
hx_ident() {
  local kind=$1 tag=$2 seed=$3 s
  HX_FSTYPE=- HX_UUID=- HX_LABEL=- HX_VERSION=-
  case $kind in
    ext2 | ext3 | ext4 | xfs | btrfs | swap | ntfs)
      HX_FSTYPE=$kind
      HX_UUID=$(hx_uuid fs "$seed")
      HX_LABEL=$tag-$kind
      ;;&
    ntfs)
      s=$(hx_hex 16 ntfs "$seed")
      HX_UUID=${s^^}
      ;;
    fat12 | fat16 | fat32 | esp)
      HX_FSTYPE=vfat
      s=$(hx_serial32 vfat "$seed")
      s=${s^^}
      HX_UUID=${s:0:4}-${s:4:4}
      HX_VERSION=FAT${kind#fat}
      [[ $kind != esp ]] || HX_VERSION=FAT32
      HX_LABEL=${tag^^}${kind^^}
      ;;
    lvm)
      HX_FSTYPE=LVM2_member
      HX_UUID=$(hx_lvm_uuid pv "$seed")
      ;;
    luks1 | luks2)
      HX_FSTYPE=crypto_LUKS
      HX_UUID=$(hx_uuid luks "$seed")
      HX_VERSION=${kind#luks}
      [[ $kind == luks1 ]] || HX_LABEL=$tag-$kind
      ;;
    iso)
      HX_FSTYPE=iso9660
      s=$(hx_hex 6 iso "$seed")
      # blkid's iso9660 UUID is the volume modification date.
      HX_UUID=$(printf '2024-01-01-%02d-%02d-%02d-00' $((0x${s:0:2} % 24)) \
        $((0x${s:2:2} % 60)) $((0x${s:4:2} % 60)))
      HX_LABEL=${tag^^}ISO
      ;;
  esac
}

# hx_format KIND DEV TAG SEED START_SECTOR : put content KIND on DEV (a
# partition), with the identifiers of hx_ident. START_SECTOR (in the
# device's logical sectors) is for NTFS's hidden-sectors field.
hx_format() {
  local kind=$1 dev=$2 tag=$3 seed=$4 start=$5 d
  hx_ident "$kind" "$tag" "$seed"
  case $kind in
    ext2 | ext3 | ext4) hx_mk_ext "$kind" "$dev" "$HX_UUID" "$HX_LABEL" ;;
    xfs) hx_mk_xfs "$dev" "$HX_UUID" "$HX_LABEL" ;;
    btrfs) hx_mk_btrfs "$dev" "$HX_UUID" "$HX_LABEL" ;;
    fat12 | fat16 | fat32) hx_mk_vfat "${kind#fat}" "$dev" "${HX_UUID/-/}" "$HX_LABEL" ;;
    esp) hx_mk_vfat 32 "$dev" "${HX_UUID/-/}" "$HX_LABEL" ;;
    ntfs) hx_mk_ntfs "$dev" "$HX_UUID" "$HX_LABEL" "$start" ;;
    swap) hx_mk_swap "$dev" "$HX_UUID" "$HX_LABEL" ;;
    lvm)
      HX_LVM_DEVICES=$dev hx_lvm pvcreate -q --uuid "$HX_UUID" --norestorefile "$dev" >&2
      ;;
    luks1 | luks2) hx_mk_luks "${kind#luks}" "$dev" "$HX_UUID" "$HX_LABEL" "$HX_LUKS_KEY" ;;
    iso)
      d=$HX_WORK/iso-$tag
      mkdir -p "$d/src"
      printf 'hydra fixture %s\n' "$seed" >"$d/src/README.TXT"
      hx_mk_iso "$d/img.iso" "$HX_LABEL" "$(echo "$HX_UUID" | tr -d -)" "$d/src"
      dd if="$d/img.iso" of="$dev" bs=1M conv=notrunc,fsync status=none
      rm -rf "$d"
      ;;
    random) hx_put_random "$dev" $((4 * HX_MIB)) "$(printf '%d' "0x$(hx_hex 7 random "$seed")")" ;;
    empty) ;;
    *) hx_die "unknown kind $kind" ;;
  esac
}

# hx_verify DEV KIND TAG SEED : blkid -p must report what hx_ident says.
hx_verify() {
  local dev=$1 kind=$2 out rc=0 key want got
  hx_ident "$kind" "$3" "$4"
  out=$(blkid -p -o export "$dev") || rc=$?
  if [[ $HX_FSTYPE == - ]]; then
    # Nothing must be found: blkid exits 2; PART_ENTRY_* lines are fine.
    if grep -q '^TYPE=\|^PTTYPE=' <<<"$out"; then
      hx_die "blkid found something on $kind $dev: $(tr '\n' ' ' <<<"$out")"
    fi
    return 0
  fi
  ((rc == 0)) || hx_die "blkid -p $dev failed (rc $rc)"
  for key in TYPE UUID LABEL VERSION; do
    case $key in
      TYPE) want=$HX_FSTYPE ;;
      UUID) want=$HX_UUID ;;
      LABEL) want=$HX_LABEL ;;
      VERSION) want=$HX_VERSION ;;
    esac
    [[ $want != - ]] || continue
    got=$(sed -n "s/^$key=//p" <<<"$out")
    [[ $got == "$want" ]] || hx_die "$dev ($kind): blkid $key='$got', expected '$want'"
  done
}

# ---------------------------------------------------------------------------
# Containers.

# hx_vhd_fix VHD UUID : give a fixed VHD's footer a fixed unique id and
# timestamp (qemu-img makes both random) and recompute its checksum.
hx_vhd_fix() {
  perl -e '
    my ($path, $uuid) = @ARGV;
    $uuid =~ s/-//g;
    open(my $f, "+<", $path) or die "open $path: $!";
    binmode $f;
    my $size = -s $f;
    sysseek($f, $size - 512, 0);
    sysread($f, my $ft, 512) == 512 or die "read footer";
    substr($ft, 0, 8) eq "conectix" or die "no VHD footer in $path";
    substr($ft, 24, 4) = pack("N", 757382400);   # 2024-01-01 00:00:00 UTC
    substr($ft, 68, 16) = pack("H32", $uuid);
    substr($ft, 64, 4) = "\0\0\0\0";
    my $sum = 0; $sum += $_ for unpack("C*", $ft);
    substr($ft, 64, 4) = pack("N", ~$sum & 0xffffffff);
    sysseek($f, $size - 512, 0);
    syswrite($f, $ft) == 512 or die "write footer";
    close($f) or die;
  ' "$1" "$2"
}

# hx_vmdk_fix DESCRIPTOR CID : fixed CID in a flat VMDK's descriptor.
hx_vmdk_fix() {
  sed -i "s/^CID=[0-9a-fA-F]*\$/CID=$2/" "$1"
}

# hx_punch_unwritten FILE : deallocate the file's unwritten extents (space
# that mkfs zeroed with BLKZEROOUT, which a loop device turns into
# fallocate(ZERO_RANGE) on the backing file). They read as zeros either way,
# so the content is unchanged; the file just stays sparse. Sync first (-s) so
# no extent is still unwritten with data pending in the page cache.
hx_punch_unwritten() {
  local file=$1 off len
  while read -r off len; do
    fallocate -p -o "$off" -l "$len" "$file"
  done < <(filefrag -s -v "$file" | awk -F: '
    /blocks of [0-9]+ bytes/ { if (match($0, /blocks of [0-9]+ bytes/)) { split(substr($0, RSTART, RLENGTH), w, " "); bs = w[3] } }
    $0 ~ /unwritten/ && $1 ~ /^ *[0-9]+$/ { split($2, r, "[. ]+"); n = $4 + 0; start = r[1] == "" ? r[2] : r[1]; printf "%.0f %.0f\n", start * bs, n * bs }')
}

# hx_sparsify FILE : hx_punch_unwritten, then punch blocks of written zeros
# (FAT tables, zeroed metadata) with fallocate --dig-holes.
hx_sparsify() {
  hx_punch_unwritten "$1"
  fallocate --dig-holes "$1"
}

# Allocated bytes of a file.
hx_alloc_bytes() { local b; b=$(stat -c '%b*%B' "$1"); echo $((b)); }

# ---------------------------------------------------------------------------
# Tools and cache keys.

# hx_tool_version TOOL : one stable line naming the tool's version.
hx_tool_version() {
  local t=$1 v
  case $t in
    mke2fs | mkfs.ext2 | mkfs.ext3 | mkfs.ext4) v=$(mke2fs -V 2>&1 | head -n1) ;;
    mkfs.xfs | mkfs.btrfs) v=$("$t" -V 2>&1 | head -n1) ;;
    mkntfs) v=$(mkntfs --version 2>&1 | grep -m1 .) ;;
    xorriso) v=$(xorriso -version 2>/dev/null | head -n1) ;;
    qemu-img) v=$(qemu-img --version | head -n1) ;;
    cryptsetup | sgdisk | sfdisk | mkswap | losetup | partx | blkid)
      v=$("$t" --version 2>&1 | grep -m1 .) ;;
    lvm) v=$(lvm version 2>/dev/null | grep -m1 'LVM version') ;;
    perl) v=$(perl -e 'print "perl $^V"') ;;
    *) # no version option (mkfs.vfat): hash the executable
      v="$t sha256:$(sha256sum <"$(command -v "$t")" | cut -c1-16)" ;;
  esac
  printf '%s: %s\n' "$t" "$v"
}

# Tools every fixture needs (besides coreutils and bash).
# shellcheck disable=SC2034 # used by build
HX_COMMON_TOOLS=(losetup partx blkid perl flock sha256sum truncate dd fallocate filefrag unshare)

hx_missing_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || printf '%s\n' "$t"
  done
}
