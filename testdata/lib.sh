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
  # -a adds what is missing (it fails with EBUSY for what the kernel already
  # made, and goes on); -u then updates what differs. -u alone stops at a
  # missing slot (MBR with an extended #3 and no #4) and never adds #5.
  partx -a "$dev" 1>&2 || true
  partx -u "$dev" 1>&2 || true
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

# ===========================================================================
# Guest fixtures (rhel-lvm, debian-mbr, sles-btrfs, multi-disk-guest,
# windows-ntfs, no-os, two-roots): phony installed systems, i.e. real file
# systems holding the files a real OS has where Hydra looks. The functions
# below are prefixed hx_g_ and keep their state in the main shell:
#
#   hx_g_init OUT FIXTURE                  start (raw/ qcow2/ vmdk/ vhd/)
#   hx_g_disk DISK SCHEME MIB TOKEN...     table + file systems, left attached
#   hx_g_fill VOL SRC [SCRIPT]             copy a staged tree into VOL
#   hx_g_vg / hx_g_lvs_done / hx_g_lv      LVM metadata, then LV contents
#   hx_g_row ...                           guest.tsv rows
#   hx_g_finish                            detach, place LVs, verify, convert
#
# Volumes are named DISKpN (disk0p2) or VG/LV (rhel/root); identifiers
# derive from "FIXTURE/VOLUME" (hx_uuid fs ..., as hx_ident does). Labels
# are none unless given (real installers rarely label).

# hx_g_put FILE [MODE] : write stdin to FILE, creating its parent dirs.
hx_g_put() {
  mkdir -p "$(dirname "$1")"
  cat >"$1"
  [[ -z ${2:-} ]] || chmod "$2" "$1"
}

# hx_g_placeholder FILE [MODE] : a small file standing for a binary.
hx_g_placeholder() {
  printf 'hydra fixture placeholder: %s\n' "${1##*/}" | hx_g_put "$1" "${2:-}"
}

# hx_g_stamp DIR : fixed mtimes (2024-01-01) on everything under DIR.
hx_g_stamp() {
  find "$1" -exec touch -h -d @1704067200 {} +
}

# hx_g_initramfs SRC OUT [gzip|zstd|xz] : a compressed newc cpio of SRC
# (like dracut's or initramfs-tools' main archive), reproducible (fixed
# owner, mtimes, inode numbers).
hx_g_initramfs() {
  local src=$1 out=$2 comp=${3:-gzip}
  local -a z
  case $comp in
    gzip) z=(gzip -n -9) ;;
    zstd) z=(zstd -q -19 --no-check) ;;
    xz) z=(xz -0 --check=crc32) ;; # the kernel's xz decoder wants crc32
    *) hx_die "hx_g_initramfs: unknown compression $comp" ;;
  esac
  hx_g_stamp "$src"
  (cd "$src" && find . -mindepth 1 | LC_ALL=C sort |
    cpio -o -H newc -R 0:0 --reproducible --quiet) | "${z[@]}" >"$out"
  touch -d @1704067200 "$out"
}

# hx_g_grubenv FILE LINE... : a GRUB environment block (1024 bytes).
hx_g_grubenv() {
  local f=$1
  shift
  mkdir -p "$(dirname "$f")"
  perl -e 'my $s = "# GRUB Environment Block\n" . join("", map { "$_\n" } @ARGV);
    length($s) <= 1024 or die "grubenv too long"; print $s, "#" x (1024 - length $s)' "$@" >"$f"
}

# hx_hive_empty FILE ROOTNAME : an empty registry hive (regf header, one
# hbin with the root key and its security descriptor), hivex-compatible.
# No Debian package ships one; this is the structure of hivex's
# images/minimal, with a plain descriptor (owner Administrators, group
# SYSTEM; SYSTEM and Administrators full control, Users read).
hx_hive_empty() {
  perl -e '
    use strict; use warnings;
    my ($out, $root) = @ARGV;
    my $ts = pack("Q<", (1704067200 + 11644473600) * 10000000); # FILETIME 2024-01-01
    sub sid { my ($auth, @sub) = @_; pack("CC", 1, scalar @sub) . pack("N", 0) . pack("n", $auth) . pack("V*", @sub) }
    my ($sys, $adm, $usr) = (sid(5, 18), sid(5, 32, 544), sid(5, 32, 545));
    sub ace { my ($mask, $sid) = @_; my $b = pack("V", $mask) . $sid; pack("CCv", 0, 2, 4 + length $b) . $b }
    my $aces = ace(0xF003F, $sys) . ace(0xF003F, $adm) . ace(0x20019, $usr);
    my $acl = pack("CCvvv", 2, 0, 8 + length $aces, 3, 0) . $aces;
    my $o_own = 20; my $o_grp = $o_own + length $adm; my $o_dacl = $o_grp + length $sys;
    my $sd = pack("CCvVVVV", 1, 0, 0x8004, $o_own, $o_grp, 0, $o_dacl) . $adm . $sys . $acl;
    sub cell { my $d = shift; my $n = (4 + length($d) + 7) & ~7; pack("l<", -$n) . $d . ("\0" x ($n - 4 - length $d)) }
    my $nk_off = 0x20;
    my $sk_off = $nk_off + length cell("x" x (0x4C + length $root));
    my $nk = "nk" . pack("v", 0x2c) . $ts . pack("VVVV", 0, 0, 0, 0) . pack("VV", 0xffffffff, 0xffffffff)
      . pack("VVVV", 0, 0xffffffff, $sk_off, 0xffffffff) . pack("V5", 0, 0, 0, 0, 0)
      . pack("vv", length $root, 0) . $root;
    my $sk = "sk" . pack("v", 0) . pack("VVVV", $sk_off, $sk_off, 1, length $sd) . $sd;
    my $cells = cell($nk) . cell($sk);
    my $free = 0x1000 - 0x20 - length $cells;
    my $hbin = "hbin" . pack("VV", 0, 0x1000) . ("\0" x 8) . $ts . pack("V", 0)
      . $cells . pack("l<", $free) . ("\0" x ($free - 4));
    my $hdr = "regf" . pack("VV", 1, 1) . $ts . pack("VVVV", 1, 5, 0, 1) . pack("VVV", $nk_off, 0x1000, 1);
    $hdr .= "\0" x (0x1FC - length $hdr);
    my $x = 0; $x ^= $_ for unpack("V127", $hdr);
    $hdr .= pack("V", $x) . ("\0" x (0x1000 - 0x200));
    open(my $f, ">", $out) or die "$out: $!"; binmode $f; print $f $hdr, $hbin; close $f or die;
  ' "$1" "$2"
}

# hx_hive_build FILE ROOTNAME REGFILE : an empty hive, then merge the .reg
# text (keys as [\Path], each parent key in its own section) with
# hivexregedit; fails unless every key of the .reg is in the result.
hx_hive_build() {
  local f=$1 root=$2 reg=$3 want got
  hx_hive_empty "$f" "$root"
  hivexregedit --merge "$f" "$reg" >&2
  want=$(grep -c '^\[' "$reg")
  # shellcheck disable=SC1003 # the hive's root key is \
  got=$(hivexregedit --export "$f" '\' | grep -c '^\[\\[^]]')
  ((got == want)) || hx_die "$f: $got keys after merge, $reg has $want"
}

# hx_gfs_ident KIND SEED LABEL : HX_FSTYPE HX_UUID HX_LABEL HX_VERSION as
# blkid -p reports them for hx_gfs_make KIND ... SEED LABEL (LABEL - = none).
# Kinds: those of hx_ident, and biosboot (empty, nothing to find).
hx_gfs_ident() {
  hx_ident "$1" x "$2"
  HX_LABEL=$3
}

# hx_gfs_make KIND DEV SEED LABEL START_SECTOR : make KIND on DEV with the
# identifiers of hx_gfs_ident (no label when LABEL is -).
hx_gfs_make() {
  local kind=$1 dev=$2 seed=$3 label=$4 start=$5 out
  local -a l=()
  hx_gfs_ident "$kind" "$seed" "$label"
  case $kind in
    ext2 | ext3 | ext4)
      [[ $label == - ]] || l=(-L "$label")
      mke2fs -q -F -t "$kind" -U "$HX_UUID" "${l[@]}" \
        -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 "$dev" >&2
      ;;
    xfs)
      [[ $label == - ]] || l=(-L "$label")
      mkfs.xfs -q -f -K -m uuid="$HX_UUID" "${l[@]}" "$dev" >&2
      ;;
    btrfs) hx_mk_btrfs "$dev" "$HX_UUID" "${label#-}" ;;
    fat12 | fat16 | fat32 | esp)
      [[ $label == - ]] || l=(-n "$label")
      out=$(mkfs.vfat -F "$(if [[ $kind == esp ]]; then echo 32; else echo "${kind#fat}"; fi)" \
        -i "${HX_UUID/-/}" "${l[@]}" "$dev" 2>&1) || hx_die "mkfs.vfat $dev: $out"
      [[ $out != *WARNING* ]] || hx_die "mkfs.vfat $dev: $out"
      ;;
    ntfs) hx_mk_ntfs "$dev" "$HX_UUID" "${label#-}" "$start" ;;
    swap)
      [[ $label == - ]] || l=(-L "$label")
      mkswap -U "$HX_UUID" "${l[@]}" "$dev" >/dev/null
      ;;
    lvm) HX_LVM_DEVICES=$dev hx_lvm pvcreate -q --uuid "$HX_UUID" --norestorefile "$dev" >&2 ;;
    biosboot | empty) ;;
    *) hx_die "hx_gfs_make: unknown kind $kind" ;;
  esac
}

# hx_gfs_verify DEV KIND SEED LABEL : blkid -p must report hx_gfs_ident's view.
hx_gfs_verify() {
  local dev=$1 out key want got
  hx_gfs_ident "$2" "$3" "$4"
  out=$(blkid -p -o export "$dev" || true)
  if [[ $HX_FSTYPE == - ]]; then
    ! grep -q '^TYPE=\|^PTTYPE=' <<<"$out" || hx_die "blkid found something on $2 $dev: $(tr '\n' ' ' <<<"$out")"
    return 0
  fi
  for key in TYPE UUID LABEL VERSION; do
    case $key in
      TYPE) want=$HX_FSTYPE ;;
      UUID) want=$HX_UUID ;;
      LABEL) want=$HX_LABEL ;;
      VERSION) want=$HX_VERSION ;;
    esac
    # (-o export escapes spaces and the like with a backslash)
    got=$(sed -n -e "s/^$key=//" -e 's/\\\(.\)/\1/g' -e p <<<"$(grep "^$key=" <<<"$out")")
    [[ $want != - ]] || { [[ $key != LABEL || -z $got ]] || hx_die "$dev: unexpected LABEL '$got'"; continue; }
    [[ $got == "$want" ]] || hx_die "$dev ($2): blkid $key='$got', expected '$want'"
  done
}

# Script run by hx_in_mount inside its namespaces (pid 1 there).
# shellcheck disable=SC2016 # expanded by the inner bash
HX_IN_MOUNT_SH='
set -euo pipefail
dev=$1 fstype=$2 MNT=$3 script=$4
shift 4
fuse_pid=
unmount() {
  cd /
  if [[ -n $(findmnt -n -o TARGET --mountpoint "$MNT" 2>/dev/null) ]]; then
    umount "$MNT"
  fi
  # ntfs-3g writes its last metadata and closes the device after the
  # unmount: wait for it (as pid 1 here, our exit would SIGKILL it).
  if [[ -n $fuse_pid ]]; then wait "$fuse_pid" || true; fuse_pid=; fi
}
trap unmount EXIT
trap "exit 130" INT
trap "exit 143" TERM
case $fstype in
  ntfs)
    ntfs-3g -o no_detach "$dev" "$MNT" >/dev/null 2>&1 &
    fuse_pid=$!
    for ((i = 0; i < 200; i++)); do
      [[ -n $(findmnt -n -o TARGET --mountpoint "$MNT" 2>/dev/null) ]] && break
      kill -0 "$fuse_pid" 2>/dev/null || { echo "ntfs-3g $dev failed" >&2; exit 1; }
      sleep 0.05
    done
    [[ -n $(findmnt -n -o TARGET --mountpoint "$MNT") ]] || { echo "ntfs-3g $dev: no mount" >&2; exit 1; }
    ;;
  xfs) mount -t xfs -o nouuid "$dev" "$MNT" ;;
  *) mount -t "$fstype" "$dev" "$MNT" ;;
esac
export MNT
(eval "$script")
sync -f "$MNT"
unmount
'

# hx_in_mount DEV FSTYPE SCRIPT [ARG...] : mount DEV (ext2/3/4, xfs, btrfs
# with the kernel; ntfs with ntfs-3g) on a temp dir inside a private mount
# and pid namespace, run the bash SCRIPT there ($MNT = mountpoint, "$@" =
# ARGs), unmount. The mount is never visible outside the namespace, and if
# the build dies, even by SIGKILL, the namespace goes with it (unshare
# --kill-child): nothing stays mounted and ntfs-3g does not linger.
hx_in_mount() {
  local dev=$1 fstype=$2 script=$3 mnt
  shift 3
  mnt=$(mktemp -d "$HX_WORK/mnt.XXXXXX")
  unshare --mount --propagation private --pid --fork --kill-child \
    bash -c "$HX_IN_MOUNT_SH" hx-in-mount "$dev" "$fstype" "$mnt" "$script" "$@" >&2 ||
    hx_die "hx_in_mount $dev ($fstype) failed"
  rmdir "$mnt"
}

# hx_copy_range SRC SRC_OFF LEN DST DST_OFF : copy bytes, skipping holes
# of SRC (SEEK_DATA/SEEK_HOLE) and all-zero blocks (DST keeps its holes;
# the range in DST must read as zeros before).
hx_copy_range() {
  perl -e '
    use strict; use warnings;
    my ($src, $soff, $len, $dst, $doff) = @ARGV;
    open(my $in, "<", $src) or die "$src: $!";
    open(my $out, "+<", $dst) or die "$dst: $!";
    binmode $in; binmode $out;
    my ($SEEK_DATA, $SEEK_HOLE) = (3, 4);
    my $end = $soff + $len;
    my $pos = $soff;
    my $zero = "\0" x 65536;
    while ($pos < $end) {
      my $data = sysseek($in, $pos, $SEEK_DATA);
      last unless defined $data && $data < $end;  # ENXIO: no data after pos
      my $hole = sysseek($in, $data, $SEEK_HOLE);
      $hole = $end if !defined $hole || $hole > $end;
      for (my $p = $data; $p < $hole; $p += 65536) {
        my $n = $hole - $p < 65536 ? $hole - $p : 65536;
        sysseek($in, $p, 0) or die "seek";
        my $got = sysread($in, my $buf, $n);
        defined $got && $got == $n or die "short read at $p";
        next if $buf eq substr($zero, 0, $n);
        sysseek($out, $doff + $p - $soff, 0) or die "seek out";
        syswrite($out, $buf) == $n or die "write";
      }
      $pos = $hole;
    }
    close($out) or die "close $dst: $!";
  ' "$@"
}

# hx_vfat_copy DEV SRC : copy the tree SRC into the FAT file system on DEV
# with mtools (no vfat driver here).
hx_vfat_copy() {
  local dev=$1 src=$2 d f
  (
    cd "$src" || exit 1
    export MTOOLS_SKIP_CHECK=1
    # (mtools complains that a loop partition has no geometry: harmless)
    while IFS= read -r d; do
      mmd -i "$dev" "::/${d#./}" 2>&1 | sed 's/Could not get geometry of device (Inappropriate ioctl for device)//' >&2
    done < <(find . -mindepth 1 -type d | LC_ALL=C sort)
    while IFS= read -r f; do
      mcopy -p -m -i "$dev" "$f" "::/${f#./}" 2>&1 | sed 's/Could not get geometry of device (Inappropriate ioctl for device)//' >&2
    done < <(find . -type f | LC_ALL=C sort)
    mdir -i "$dev" -/ -b :: 2>/dev/null | sed -e 's#^::/##' -e 's#/$##' | LC_ALL=C sort >"$HX_WORK/vfat-list"
  )
  (cd "$src" && find . -mindepth 1 | sed 's#^\./##' | LC_ALL=C sort) | cmp -s - "$HX_WORK/vfat-list" ||
    hx_die "hx_vfat_copy $dev: files on FAT differ from $src: $(diff <(cd "$src" && find . -mindepth 1 | sed 's#^\./##' | LC_ALL=C sort) "$HX_WORK/vfat-list" | head -5 | tr '\n' ' ')"
}

# --- state ---------------------------------------------------------------

declare -gA HX_G_DEV=() HX_G_LVDEV=() HX_G_LABEL=() HX_G_SS=() HX_G_SCHEME=() HX_G_SUBVOL_DEFAULT=()
HX_G_DISKS=()
HX_G_LVS=()

# hx_g_init OUT FIXTURE
hx_g_init() {
  HX_G_OUT=$1
  HX_G_FIXTURE=$2
  mkdir -p "$HX_G_OUT"/{raw,qcow2,vmdk,vhd}
  : >"$HX_WORK/g-vols.tsv"
  : >"$HX_WORK/g-guest.tsv"
}

# hx_g_vol_field VOL COLUMN : a column of the volume's g-vols.tsv row
# (2 disk, 3 part, 4 start, 5 size, 8 kind, 9 fstype, 10 uuid, 11 label).
hx_g_vol_field() {
  local v
  v=$(awk -F'\t' -v v="$1" -v c="$2" '$1 == v { print $c; exit }' "$HX_WORK/g-vols.tsv")
  [[ -n $v ]] || hx_die "no volume $1"
  printf '%s\n' "$v"
}

# hx_g_dev VOL : its block device (partition of an attached disk, or the
# loop device over an LV's content file).
hx_g_dev() {
  local vol=$1
  if [[ $vol == */* ]]; then
    [[ -n ${HX_G_LVDEV[$vol]:-} ]] || hx_die "LV $vol has no device (hx_g_lv first)"
    printf '%s\n' "${HX_G_LVDEV[$vol]}"
  else
    [[ $vol =~ ^(.+)p([0-9]+)$ ]] || hx_die "bad volume name $vol"
    [[ -n ${HX_G_DEV[${BASH_REMATCH[1]}]:-} ]] || hx_die "disk ${BASH_REMATCH[1]} is not attached"
    printf '%sp%s\n' "${HX_G_DEV[${BASH_REMATCH[1]}]}" "${BASH_REMATCH[2]}"
  fi
}

# hx_g_disk DISK SCHEME MIB TOKEN... : raw/DISK.img of MIB MiB with a
# partition table (SCHEME gpt or mbr, written by sfdisk), each partition's
# content made, the disk left attached with its partitions. TOKEN is
# KIND:MIB[:FLAG...] or KIND:rest[:FLAG...], packed from 1 MiB, 1 MiB
# aligned. FLAGs: boot (MBR active flag), log (MBR logical: all logicals
# come last, inside an extended partition numbered after the primaries;
# logicals are numbered from 5, each after a 1 MiB gap for its EBR).
# Labels come from HX_G_LABEL[DISKpN] (default none).
hx_g_disk() {
  local disk=$1 scheme=$2 mib=$3
  shift 3
  local file=$HX_G_OUT/raw/$disk.img bytes=$((mib * HX_MIB)) cur=$HX_MIB
  local end tok kind sz flags n=0 start size layout=$HX_WORK/layout-$disk id ext_start=0 lognum=4
  local code mbr pguid boot seed pn name partuuid note
  local -a nums=() boots=()
  end=$((bytes - HX_MIB))
  truncate -s "$bytes" "$file"
  : >"$layout"
  for tok in "$@"; do
    IFS=: read -r kind sz flags <<<"$tok"
    if [[ :$flags: == *:log:* ]]; then
      [[ $scheme == mbr ]] || hx_die "$disk: logical partition on $scheme"
      if ((ext_start == 0)); then
        ext_start=$cur
        ((n < 4)) || hx_die "$disk: no room for the extended partition"
        n=$((n + 1))
        printf '%d %d X extended - 5 - -\n' "$n" "$cur" >>"$layout"
      fi
      lognum=$((lognum + 1))
      pn=$lognum
      start=$((cur + HX_MIB))
    else
      ((ext_start == 0)) || hx_die "$disk: primary after a logical"
      n=$((n + 1))
      pn=$n
      start=$cur
    fi
    if [[ $sz == rest ]]; then size=$((end - start)); else size=$((sz * HX_MIB)); fi
    ((size > 0 && start + size <= end)) || hx_die "$disk: partition $pn ($tok) does not fit"
    cur=$((start + size))
    case $kind in
      biosboot) code=21686148-6449-6E6F-744E-656564454649 mbr=ef ;;
      *) code=$(hx_gpt_code "$kind") mbr=$(hx_mbr_type "$kind") ;;
    esac
    printf '%d %d %d %s %s %s %sp%d %s\n' "$pn" "$start" "$size" "$kind" "$code" "$mbr" \
      "$disk" "$pn" "$(hx_uuid partuuid "$HX_G_FIXTURE/$disk" "$pn")" >>"$layout"
    [[ :$flags: != *:boot:* ]] || boots+=("$pn")
    nums+=("$pn")
  done
  # the extended partition spans its logicals
  sed -i "s/^\\([0-9]*\\) $ext_start X extended/\\1 $ext_start $((cur - ext_start)) extended/" "$layout"

  if [[ $scheme == gpt ]]; then
    id=$(hx_uuid gpt-disk "$HX_G_FIXTURE/$disk")
    ((${#boots[@]} == 0)) || hx_die "$disk: boot flag on gpt"
    hx_gpt_write sfdisk "$file" 512 "$id" "$layout"
  else
    id=$(hx_serial32 mbr-id "$HX_G_FIXTURE/$disk")
    {
      printf 'label: dos\nlabel-id: 0x%s\nunit: sectors\n\n' "$id"
      while read -r pn start size kind code mbr name pguid; do
        boot=
        [[ " ${boots[*]} " != *" $pn "* ]] || boot=', bootable'
        printf 'start=%d, size=%d, type=%s%s\n' $((start / 512)) $((size / 512)) "$mbr" "$boot"
      done <"$layout"
    } | sfdisk --no-reread --no-tell-kernel -q "$file" >&2
  fi
  HX_G_DISKS+=("$disk")
  HX_G_SS[$disk]=512
  HX_G_SCHEME[$disk]=${scheme/mbr/dos}
  HX_G_DEV[$disk]=$(hx_loop_attach "$file")
  # partx -u (in hx_loop_partitions) stops at the first missing primary
  # (extended partition 3, no 4): logicals 5+ are then never added. partx -a
  # adds them all (and fails harmlessly where the kernel made them).
  partx -a "${HX_G_DEV[$disk]}" >/dev/null 2>&1 || true
  hx_loop_partitions "${HX_G_DEV[$disk]}" "${nums[@]}"
  hx_step "$disk: table ($scheme) written, partitions ${nums[*]}"

  while read -r pn start size kind code mbr name pguid; do
    seed=$HX_G_FIXTURE/${disk}p$pn
    if [[ $kind == extended ]]; then
      HX_FSTYPE=- HX_UUID=- HX_LABEL=- HX_VERSION=-
    else
      hx_gfs_make "$kind" "${HX_G_DEV[$disk]}p$pn" "$seed" "${HX_G_LABEL[${disk}p$pn]:--}" $((start / 512))
    fi
    if [[ $scheme == gpt ]]; then partuuid=$pguid; else partuuid=$id-$(printf '%02x' "$pn"); fi
    note=-
    [[ " ${boots[*]} " != *" $pn "* ]] || note=boot
    [[ $kind != biosboot ]] || note=bios-boot
    printf '%s\t%s\t%s\t%s\t%s\t512\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${disk}p$pn" "raw/$disk.img" \
      "$pn" "$start" "$size" "${scheme/mbr/dos}" "$kind" "$HX_FSTYPE" "$HX_UUID" "$HX_LABEL" \
      "$HX_VERSION" "$partuuid" "$note" >>"$HX_WORK/g-vols.tsv"
  done <"$layout"
  sync
  while read -r pn start size kind _; do
    [[ $kind == extended ]] && continue
    hx_gfs_verify "${HX_G_DEV[$disk]}p$pn" "$kind" "$HX_G_FIXTURE/${disk}p$pn" "${HX_G_LABEL[${disk}p$pn]:--}"
  done <"$layout"
  hx_step "$disk: file systems made and verified"
}

# hx_g_fill VOL SRC [SCRIPT] : put the staged tree SRC into VOL. Default:
# copy SRC's content to the root of the file system (cp -a; for NTFS cp -r;
# for FAT mtools). With SCRIPT (ext/xfs/btrfs/ntfs only), run that bash
# instead, with $MNT mounted and $SRC set (btrfs subvolumes...).
hx_g_fill() {
  local vol=$1 src=$2 script=${3:-} fstype dev
  fstype=$(hx_g_vol_field "$vol" 9)
  dev=$(hx_g_dev "$vol")
  hx_g_stamp "$src"
  case $fstype in
    vfat)
      [[ -z $script ]] || hx_die "hx_g_fill: no SCRIPT for vfat"
      hx_vfat_copy "$dev" "$src"
      ;;
    ntfs)
      # shellcheck disable=SC2016
      [[ -n $script ]] || script='cp -r --no-preserve=all "$SRC"/. "$MNT"/'
      hx_in_mount "$dev" ntfs "SRC=\$1; $script" "$src"
      ;;
    ext2 | ext3 | ext4 | xfs | btrfs)
      # shellcheck disable=SC2016
      [[ -n $script ]] || script='cp -a "$SRC"/. "$MNT"/'
      hx_in_mount "$dev" "$fstype" "SRC=\$1; $script" "$src"
      ;;
    *) hx_die "hx_g_fill: cannot fill $vol ($fstype)" ;;
  esac
  hx_step "$vol: filled ($(du -s --apparent-size -k "$src" | cut -f1) KiB staged)"
}

# hx_g_lvm_devices : HX_LVM_DEVICES = every attached lvm partition.
hx_g_lvm_devices() {
  local vol devs=
  while read -r vol; do
    devs+=${devs:+,}$(hx_g_dev "$vol")
  done < <(awk -F'\t' '$8 == "lvm" { print $1 }' "$HX_WORK/g-vols.tsv")
  [[ -n $devs ]] || hx_die "no lvm partitions"
  export HX_LVM_DEVICES=$devs
}

# hx_g_vg VG PVVOL... : vgcreate (4 MiB extents, no autoactivation).
hx_g_vg() {
  local vg=$1 v
  local -a pvs=()
  shift
  for v in "$@"; do pvs+=("$(hx_g_dev "$v")"); done
  hx_g_lvm_devices
  hx_lvm vgcreate -q -s 4m --setautoactivation n "$vg" "${pvs[@]}" >&2
}

# hx_g_lvcreate VG LV MIB [PVVOL...] / hx_g_lvextend VG LV +MIB PVVOL... :
# metadata only (-an -Zn), optionally on the given PVs.
hx_g_lvcreate() {
  local vg=$1 lv=$2 mib=$3 v
  local -a pvs=()
  shift 3
  for v in "$@"; do pvs+=("$(hx_g_dev "$v")"); done
  hx_lvm lvcreate -q -an -Zn -L "${mib}m" -n "$lv" "$vg" "${pvs[@]}" >&2
}
hx_g_lvextend() {
  local vg=$1 lv=$2 mib=$3 v
  local -a pvs=()
  shift 3
  for v in "$@"; do pvs+=("$(hx_g_dev "$v")"); done
  hx_lvm lvextend -q -L "+${mib}m" "$vg/$lv" "${pvs[@]}" >&2
}

# hx_g_lvs_done VG... : fixed VG/LV UUIDs (vgcfgbackup, edit, vgcfgrestore,
# as multi-disk does) and lvm.tsv (rows pv, vg, seg; PVs named DISKpN).
hx_g_lvs_done() {
  local vg f lv vol dev sep=$'\t'
  local -a ids sedargs=()
  for vg in "$@"; do
    f=$HX_WORK/$vg.vgcfg
    ids=("$vg=$(hx_lvm_uuid vg "$HX_G_FIXTURE/$vg")")
    hx_lvm vgcfgbackup -q -f "$f" "$vg" >&2
    for lv in $(hx_lvm lvs --noheadings -o lv_name "$vg" 2>/dev/null); do
      ids+=("$lv=$(hx_lvm_uuid lv "$HX_G_FIXTURE/$vg/$lv")")
    done
    perl -i -0pe '
      BEGIN { our %id = map { split /=/, $_, 2 } splice(@ARGV, 1); }
      our %id;
      for my $name (keys %id) {
        my $n = 0;
        $n += s/^(\Q$name\E \{\n\tid = ")[^"]*"/$1$id{$name}"/m;
        $n += s/(\n\t\t\Q$name\E \{\n\t\t\tid = ")[^"]*"/$1$id{$name}"/;
        $n == 1 or die "id of $name: $n matches\n";
      }
      s/creation_time = \d+/creation_time = 1704067200/g;
      s/creation_host = "[^"]*"/creation_host = "localhost.localdomain"/g;
    ' "$f" "${ids[@]}"
    hx_lvm vgcfgrestore -q -f "$f" "$vg" >&2 2>"$HX_WORK/vgcfgrestore.err" || {
      cat "$HX_WORK/vgcfgrestore.err" >&2
      hx_die "vgcfgrestore $vg failed"
    }
    [[ $(hx_lvm vgs --noheadings -o vg_uuid "$vg" 2>/dev/null | tr -d ' ') == "${ids[0]#*=}" ]] ||
      hx_die "$vg: UUID not restored"
  done
  while read -r vol; do
    dev=$(hx_g_dev "$vol")
    sedargs+=(-e "s#$dev\\b#$vol#g")
  done < <(awk -F'\t' '$8 == "lvm" { print $1 }' "$HX_WORK/g-vols.tsv")
  {
    printf '# pv\tpv\tpv_uuid\tvg\tpe_start_bytes\tpe_count\n'
    hx_lvm pvs --noheadings --nosuffix --units b --separator "$sep" \
      -o pv_name,pv_uuid,vg_name,pe_start,pv_pe_count 2>/dev/null |
      sed -e 's/^ *//' -e 's/^/pv\t/' "${sedargs[@]}" | sort
    printf '# vg\tvg\tvg_uuid\textent_bytes\tpv_count\tlv_count\n'
    hx_lvm vgs --noheadings --nosuffix --units b --separator "$sep" \
      -o vg_name,vg_uuid,vg_extent_size,pv_count,lv_count 2>/dev/null |
      sed -e 's/^ *//' -e 's/^/vg\t/' | sort
    printf '# seg\tvg\tlv\tlv_uuid\tsegtype\tstripes\tstripe_bytes\tseg_start_pe\tseg_size_pe\tpe_ranges\n'
    hx_lvm lvs --noheadings --nosuffix --units b --separator "$sep" \
      -o vg_name,lv_name,lv_uuid,segtype,stripes,stripe_size,seg_start_pe,seg_size_pe,seg_pe_ranges \
      --sort vg_name,lv_name,seg_start_pe 2>/dev/null | sed -e 's/^ *//' -e 's/^/seg\t/' "${sedargs[@]}"
  } >"$HX_G_OUT/lvm.tsv"
  hx_step "lvm: $* (lvm.tsv)"
}

# hx_g_lv VG/LV KIND [LABEL] : the LV's content, made in a sparse file of
# the LV's size (on a loop device, for hx_g_fill); hx_g_finish copies it
# into the LV's extents on the PVs (any number of linear segments).
hx_g_lv() {
  local vol=$1 kind=$2 label=${3:--} vg=${1%/*} lv=${1#*/} extent pe file
  extent=$(awk -F'\t' -v vg="$vg" '$1 == "vg" && $2 == vg { print $4 }' "$HX_G_OUT/lvm.tsv")
  pe=$(awk -F'\t' -v vg="$vg" -v lv="$lv" '$1 == "seg" && $2 == vg && $3 == lv { n += $9 } END { print n + 0 }' "$HX_G_OUT/lvm.tsv")
  if ((pe == 0)) || [[ -z $extent ]]; then hx_die "no LV $vol in lvm.tsv"; fi
  file=$HX_WORK/lv-$vg-$lv.img
  truncate -s $((pe * extent)) "$file"
  HX_G_LVDEV[$vol]=$(hx_loop_attach "$file")
  HX_G_LABEL[$vol]=$label
  hx_gfs_make "$kind" "${HX_G_LVDEV[$vol]}" "$HX_G_FIXTURE/$vol" "$label" 0
  HX_G_LVS+=("$vol $kind")
  # its g-vols.tsv row is written when placed; hx_g_fill needs the fstype now
  printf '%s\t-\tlv:%s\t-\t-\t512\tlvm\t%s\t%s\t%s\t%s\t%s\t-\t-\n' "$vol" "$vol" "$kind" \
    "$HX_FSTYPE" "$HX_UUID" "$HX_LABEL" "$HX_VERSION" >>"$HX_WORK/g-vols.tsv"
  sync
  hx_gfs_verify "${HX_G_LVDEV[$vol]}" "$kind" "$HX_G_FIXTURE/$vol" "$label"
  hx_step "$vol: $kind made ($((pe * extent / HX_MIB)) MiB)"
}

# Copy an LV's content file into its segments (disks detached). Replaces
# the placeholder g-vols.tsv row with the real one (disk and byte range of
# the first segment, as in expected.tsv; note pv=... and segments=N).
hx_g_lv_place() {
  local vol=$1 kind=$2 vg=${1%/*} lv=${1#*/} file extent
  local seg_start seg_size ranges pv first last pe_start disk part pstart off n=0 first_off='' first_disk='' first_size='' pvlist=''
  file=$HX_WORK/lv-$vg-$lv.img
  extent=$(awk -F'\t' -v vg="$vg" '$1 == "vg" && $2 == vg { print $4 }' "$HX_G_OUT/lvm.tsv")
  while IFS=$'\t' read -r seg_start seg_size ranges; do
    [[ $ranges =~ ^([^:]+p)([0-9]+):([0-9]+)-([0-9]+)$ ]] || hx_die "$vol: pe ranges '$ranges' (linear only)"
    disk=${BASH_REMATCH[1]%p} part=${BASH_REMATCH[2]} first=${BASH_REMATCH[3]} last=${BASH_REMATCH[4]}
    pv=${disk}p$part
    ((last - first + 1 == seg_size)) || hx_die "$vol: segment size mismatch"
    pe_start=$(awk -F'\t' -v p="$pv" '$1 == "pv" && $2 == p { print $5 }' "$HX_G_OUT/lvm.tsv")
    pstart=$(awk -v p="$part" '$1 == p { print $2 }' "$HX_WORK/layout-$disk")
    off=$((pstart + pe_start + first * extent))
    hx_copy_range "$file" $((seg_start * extent)) $((seg_size * extent)) "$HX_G_OUT/raw/$disk.img" "$off"
    n=$((n + 1))
    pvlist+=${pvlist:++}$pv
    if [[ -z $first_off ]]; then first_off=$off first_disk=$disk first_size=$((seg_size * extent)); fi
  done < <(awk -F'\t' -v vg="$vg" -v lv="$lv" '$1 == "seg" && $2 == vg && $3 == lv { print $8 "\t" $9 "\t" $10 }' "$HX_G_OUT/lvm.tsv")
  ((n > 0)) || hx_die "$vol: no segments"
  hx_gfs_ident "$kind" "$HX_G_FIXTURE/$vol" "${HX_G_LABEL[$vol]}"
  local note=pv=$pvlist
  ((n == 1)) || note+=",segments=$n"
  awk -F'\t' -v v="$vol" '$1 != v' "$HX_WORK/g-vols.tsv" >"$HX_WORK/g-vols.tmp"
  printf '%s\traw/%s.img\tlv:%s\t%s\t%s\t512\tlvm\t%s\t%s\t%s\t%s\t%s\t-\t%s\n' "$vol" "$first_disk" "$vol" \
    "$first_off" "$first_size" "$kind" "$HX_FSTYPE" "$HX_UUID" "$HX_LABEL" "$HX_VERSION" "$note" >>"$HX_WORK/g-vols.tmp"
  mv "$HX_WORK/g-vols.tmp" "$HX_WORK/g-vols.tsv"
  # what blkid sees at the LV's start on the disk
  local dev
  dev=$(hx_loop_attach "$HX_G_OUT/raw/$first_disk.img" -r -o "$first_off" --sizelimit "$first_size")
  hx_gfs_verify "$dev" "$kind" "$HX_G_FIXTURE/$vol" "${HX_G_LABEL[$vol]}"
  hx_loop_detach "$dev"
}

# hx_g_row OS KIND TARGET VOL SUBVOL SPEC VALUE : a guest.tsv row; VOL (a
# volume name or -) becomes disk, part, fstype, uuid, label in hx_g_finish
# (LVs get their disk when placed). See README.md.
hx_g_row() {
  [[ $4 == - ]] || awk -F'\t' -v v="$4" '$1 == v { f = 1 } END { exit !f }' "$HX_WORK/g-vols.tsv" ||
    hx_die "hx_g_row: no volume $4"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$HX_WORK/g-guest.tsv"
}

# hx_g_uuid KIND VOL : the UUID blkid will report for VOL (to write fstab
# before the file systems exist).
hx_g_uuid() {
  hx_gfs_ident "$1" "$HX_G_FIXTURE/$2" -
  printf '%s\n' "$HX_UUID"
}

# hx_g_info OS KEY VALUE : an info row of guest.tsv.
hx_g_info() { hx_g_row "$1" info "$2" - - - "$3"; }

# hx_g_fstab_rows OS FSTAB : one guest.tsv row per fstab line, resolving
# its spec against the fixture's volumes: UUID=, LABEL=, PARTUUID=,
# /dev/disk/by-{uuid,label,partuuid}/, /dev/mapper/VG-LV, /dev/VG/LV,
# /dev/sdXN (X = disk index: a = disk0). Kinds: root (/),
# mount, swap, swapfile (a file path), unresolved (value: network for
# nfs/cifs..., else absent; noauto lines too). Subvol from subvol=.
hx_g_fstab_rows() {
  local os=$1 fstab=$2 spec mp type opts vol subvol kind lvn rest root_vol=- swapfiles=()
  while read -r spec mp type opts rest; do
    [[ -z $spec || $spec == \#* ]] && continue
    vol=-
    case $spec in
      UUID=*) vol=$(awk -F'\t' -v u="${spec#UUID=}" '$10 == u { print $1; exit }' "$HX_WORK/g-vols.tsv") ;;
      LABEL=*) vol=$(awk -F'\t' -v l="${spec#LABEL=}" '$11 == l { print $1; exit }' "$HX_WORK/g-vols.tsv") ;;
      /dev/mapper/*)
        lvn=${spec#/dev/mapper/}
        lvn=$(perl -e '$_ = shift; /^((?:[^-]|--)+)-((?:[^-]|--)+)$/ or exit 1; ($v, $l) = ($1, $2); s/--/-/g for $v, $l; print "$v/$l"' "$lvn") || lvn=
        vol=$(awk -F'\t' -v v="$lvn" '$1 == v { print $1; exit }' "$HX_WORK/g-vols.tsv")
        ;;
      /dev/disk/by-uuid/*)
        vol=$(awk -F'\t' -v u="${spec##*/}" '$10 == u { print $1; exit }' "$HX_WORK/g-vols.tsv") ;;
      /dev/disk/by-label/*)
        vol=$(awk -F'\t' -v l="${spec##*/}" '$11 == l { print $1; exit }' "$HX_WORK/g-vols.tsv") ;;
      PARTUUID=* | /dev/disk/by-partuuid/*)
        vol=$(awk -F'\t' -v u="${spec##*[=/]}" '$13 == u { print $1; exit }' "$HX_WORK/g-vols.tsv") ;;
      /dev/sd[a-z][0-9]*)
        [[ $spec =~ ^/dev/sd([a-z])([0-9]+)$ ]] &&
          vol=disk$(($(printf '%d' "'${BASH_REMATCH[1]}") - 97))p${BASH_REMATCH[2]}
        vol=$(awk -F'\t' -v v="$vol" '$1 == v { print $1; exit }' "$HX_WORK/g-vols.tsv")
        ;;
      /dev/*/*)
        vol=$(awk -F'\t' -v v="${spec#/dev/}" '$1 == v { print $1; exit }' "$HX_WORK/g-vols.tsv")
        ;;
    esac
    [[ -n $vol ]] || vol=-
    subvol=-
    [[ ,$opts, != *,subvol=* ]] || { subvol=${opts#*subvol=}; subvol=${subvol%%,*}; subvol=${subvol#/}; }
    if [[ $type == swap && $spec == /* && $spec != /dev/* ]]; then
      swapfiles+=("$spec $opts") # a file in the root file system
      continue
    fi
    if [[ $vol == - ]]; then
      case $type in
        nfs | nfs4 | cifs | smbfs | smb3 | glusterfs | ceph | sshfs | fuse.sshfs | 9p | davfs) kind=network ;;
        *) kind=absent ;;
      esac
      hx_g_row "$os" unresolved "$mp" - - "$spec" "$kind"
      continue
    fi
    case $mp in
      /) kind=root ;;
      none | swap) kind=swap mp=swap ;;
      *) kind=mount ;;
    esac
    [[ $type != swap ]] || kind=swap mp=swap
    if [[ $subvol == - && -n ${HX_G_SUBVOL_DEFAULT[$vol]:-} ]]; then
      subvol=${HX_G_SUBVOL_DEFAULT[$vol]} # btrfs mounted without subvol=: the default one
    fi
    [[ $kind != root ]] || root_vol=$vol
    hx_g_row "$os" "$kind" "$mp" "$vol" "$subvol" "$spec" "$opts"
  done <"$fstab"
  for rest in "${swapfiles[@]}"; do
    [[ $root_vol != - ]] || hx_die "$fstab: swap file but no root"
    hx_g_row "$os" swapfile swap "$root_vol" "${HX_G_SUBVOL_DEFAULT[$root_vol]:--}" "${rest%% *}" "${rest#* }"
  done
}

# hx_vmdk_sparse_fix VMDK CID : fixed CID in a monolithicSparse VMDK's
# embedded descriptor, in place (qemu-img makes it random, and prints it
# without leading zeros: the text may grow into the descriptor's NUL
# padding by a few bytes).
hx_vmdk_sparse_fix() {
  perl -e '
    my ($path, $cid) = @ARGV;
    open(my $f, "+<", $path) or die "open $path: $!";
    binmode $f;
    sysread($f, my $h, 512) == 512 or die "read header";
    substr($h, 0, 4) eq "KDMV" or die "$path: not a sparse VMDK";
    my ($dsec, $dsize) = unpack("Q<Q<", substr($h, 28, 16));
    sysseek($f, $dsec * 512, 0) or die "seek";
    sysread($f, my $d, $dsize * 512) == $dsize * 512 or die "read descriptor";
    my $len = length $d;
    $d =~ s/^CID=[0-9a-fA-F]{1,8}$/CID=$cid/m or die "$path: no CID line";
    substr($d, $len) =~ /^\0*$/ or die "$path: descriptor full";
    $d = substr($d, 0, $len);
    substr($d, -1) eq "\0" or die "$path: descriptor full";
    sysseek($f, $dsec * 512, 0);
    syswrite($f, $d) == length $d or die "write";
    close($f) or die;
  ' "$1" "$2"
}

# hx_vhd_dynamic_fix VHD UUID : fixed unique id and timestamp in both copies
# of a dynamic VHD's footer (end of file and offset 0).
hx_vhd_dynamic_fix() {
  local size
  hx_vhd_fix "$1" "$2"
  size=$(stat -c %s "$1")
  cmp -s -n 8 <(printf 'conectix') "$1" || hx_die "$1: no footer copy at offset 0"
  dd if="$1" of="$1" bs=512 skip=$((size / 512 - 1)) count=1 conv=notrunc status=none
}

# hx_g_convert DISK : qcow2/DISK.qcow2, vmdk/DISK.vmdk (monolithicSparse),
# vhd/DISK.vhd (dynamic, exact size) from raw/DISK.img, fixed ids,
# qemu-img compare identical.
hx_g_convert() {
  local disk=$1 raw=$HX_G_OUT/raw/$1.img fmt out drv
  for fmt in qcow2 vmdk vhd; do
    case $fmt in
      qcow2)
        out=$HX_G_OUT/qcow2/$disk.qcow2 drv=qcow2
        qemu-img convert -f raw -O qcow2 -o compat=1.1 "$raw" "$out"
        ;;
      vmdk)
        out=$HX_G_OUT/vmdk/$disk.vmdk drv=vmdk
        qemu-img convert -f raw -O vmdk -o subformat=monolithicSparse "$raw" "$out"
        hx_vmdk_sparse_fix "$out" "$(hx_hex 8 vmdk-cid "$HX_G_FIXTURE/$disk")"
        ;;
      vhd)
        out=$HX_G_OUT/vhd/$disk.vhd drv=vpc
        qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on "$raw" "$out"
        hx_vhd_dynamic_fix "$out" "$(hx_uuid vhd "$HX_G_FIXTURE/$disk")"
        ;;
    esac
    qemu-img compare -q -f raw -F "$drv" "$raw" "$out" || hx_die "$out differs from $raw"
    # still sparse: metadata and cluster/block rounding only
    (($(hx_alloc_bytes "$out") <= $(hx_alloc_bytes "$raw") + 32 * HX_MIB)) ||
      hx_die "$out is not sparse: $(hx_alloc_bytes "$out") bytes allocated"
    # the last virtual-size is the image's (the first ones are its children)
    [[ $(qemu-img info -f "$drv" --output=json "$out" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p' | tail -n1) == $(stat -c %s "$raw") ]] ||
      hx_die "$out: virtual size is not the raw size"
  done
}

# hx_g_finish : detach everything, copy the LVs' contents into place,
# sparsify, write expected.tsv, manifest.tsv, guest.tsv, formats.tsv,
# .disks, and convert every disk. The raw disks are the printed ones.
hx_g_finish() {
  local disk vol i os_count fmt
  sync
  for vol in "${!HX_G_LVDEV[@]}"; do
    hx_loop_detach "${HX_G_LVDEV[$vol]}"
  done
  HX_G_LVDEV=()
  for disk in "${HX_G_DISKS[@]}"; do
    [[ -z ${HX_G_DEV[$disk]:-} ]] || hx_loop_detach "${HX_G_DEV[$disk]}"
  done
  HX_G_DEV=()
  unset HX_LVM_DEVICES
  for i in "${HX_G_LVS[@]}"; do
    hx_g_lv_place "${i% *}" "${i#* }"
  done
  ((${#HX_G_LVS[@]} == 0)) || hx_step "LV contents placed"
  for disk in "${HX_G_DISKS[@]}"; do
    hx_sparsify "$HX_G_OUT/raw/$disk.img"
  done
  hx_step "sparse"

  {
    printf '# disk\tpart\tstart_bytes\tsize_bytes\tsector_size\tscheme\tkind\tfstype\tuuid\tlabel\tversion\tpartuuid\tnote\n'
    for disk in "${HX_G_DISKS[@]}"; do
      awk -F'\t' -v d="raw/$disk.img" '$2 == d && $3 !~ /^lv:/' "$HX_WORK/g-vols.tsv" | cut -f2-
    done
    awk -F'\t' '$3 ~ /^lv:/' "$HX_WORK/g-vols.tsv" | cut -f2-
  } >"$HX_G_OUT/expected.tsv"
  : >"$HX_G_OUT/manifest.tsv"
  : >"$HX_G_OUT/.disks"
  {
    printf '# format\tdisk_index\tpath\n'
    for fmt in raw qcow2 vmdk vhd; do
      i=0
      for disk in "${HX_G_DISKS[@]}"; do
        case $fmt in
          raw) printf 'raw\t%d\traw/%s.img\n' "$i" "$disk" ;;
          *) printf '%s\t%d\t%s/%s.%s\n' "$fmt" "$i" "$fmt" "$disk" "$fmt" ;;
        esac
        i=$((i + 1))
      done
    done
  } >"$HX_G_OUT/formats.tsv"
  for disk in "${HX_G_DISKS[@]}"; do
    printf 'raw/%s.img\traw/%s.img\t%s\t%s\n' "$disk" "$disk" "${HX_G_SS[$disk]}" "${HX_G_SCHEME[$disk]}" >>"$HX_G_OUT/manifest.tsv"
    printf 'raw/%s.img\n' "$disk" >>"$HX_G_OUT/.disks"
  done
  os_count=$(awk -F'\t' '$2 == "info" && $3 == "family" { n++ } END { print n + 0 }' "$HX_WORK/g-guest.tsv")
  {
    printf '# os\tkind\ttarget\tdisk\tpart\tfstype\tuuid\tlabel\tsubvol\tspec\tvalue\n'
    printf -- '-\tinfo\tos_count\t-\t-\t-\t-\t-\t-\t-\t%d\n' "$os_count"
    awk -F'\t' -v OFS='\t' '
      NR == FNR { d[$1] = $2 OFS $3 OFS $9 OFS $10 OFS $11; next }
      { v = ($4 == "-") ? "-" OFS "-" OFS "-" OFS "-" OFS "-" : d[$4]
        print $1, $2, $3, v, $5, $6, $7 }' "$HX_WORK/g-vols.tsv" "$HX_WORK/g-guest.tsv"
  } >"$HX_G_OUT/guest.tsv"

  for disk in "${HX_G_DISKS[@]}"; do
    hx_spawn "convert-$disk" hx_g_convert "$disk"
  done
  hx_wait_all
  hx_step "converted to qcow2, vmdk, vhd"
  for disk in "${HX_G_DISKS[@]}"; do
    hx_log "$disk: raw $(($(hx_alloc_bytes "$HX_G_OUT/raw/$disk.img") / 1024)) KiB, qcow2 $(($(hx_alloc_bytes "$HX_G_OUT/qcow2/$disk.qcow2") / 1024)) KiB, vmdk $(($(hx_alloc_bytes "$HX_G_OUT/vmdk/$disk.vmdk") / 1024)) KiB, vhd $(($(hx_alloc_bytes "$HX_G_OUT/vhd/$disk.vhd") / 1024)) KiB allocated"
  done
}

# --- Debian-family trees (debian-mbr, two-roots, multi-disk-guest) ------

# hx_g_deb_release debian11|debian12|ubuntu2204 : HX_DEB_KVER (kernel),
# HX_DEB_MERGED (usr merged: yes/no), HX_DEB_ZIP (initramfs compression),
# HX_DEB_TITLE, HX_DEB_CLASS (GRUB menu), HX_DEB_VERSION_ID,
# HX_DEB_NAME (PRETTY_NAME), HX_DEB_DV (debian_version),
# HX_DEB_CMDLINE (GRUB_CMDLINE_LINUX_DEFAULT).
hx_g_deb_release() {
  case $1 in
    debian11)
      HX_DEB_KVER=5.10.0-26-amd64 HX_DEB_MERGED=no HX_DEB_ZIP=gzip HX_DEB_TITLE="Debian GNU/Linux"
      HX_DEB_CLASS=debian HX_DEB_VERSION_ID=11 HX_DEB_NAME="Debian GNU/Linux 11 (bullseye)"
      HX_DEB_DV=11.8 HX_DEB_CMDLINE=quiet
      ;;
    debian12)
      HX_DEB_KVER=6.1.0-13-amd64 HX_DEB_MERGED=yes HX_DEB_ZIP=zstd HX_DEB_TITLE="Debian GNU/Linux"
      HX_DEB_CLASS=debian HX_DEB_VERSION_ID=12 HX_DEB_NAME="Debian GNU/Linux 12 (bookworm)"
      HX_DEB_DV=12.2 HX_DEB_CMDLINE=quiet
      ;;
    ubuntu2204)
      HX_DEB_KVER=5.15.0-88-generic HX_DEB_MERGED=yes HX_DEB_ZIP=zstd HX_DEB_TITLE=Ubuntu
      HX_DEB_CLASS=ubuntu HX_DEB_VERSION_ID=22.04 HX_DEB_NAME="Ubuntu 22.04.3 LTS"
      HX_DEB_DV=bookworm/sid HX_DEB_CMDLINE=
      ;;
    *) hx_die "hx_g_deb_release: unknown release $1" ;;
  esac
}

hx_g_deb_os_release() {
  case $1 in
    debian11 | debian12)
      printf 'PRETTY_NAME="%s"\nNAME="Debian GNU/Linux"\nVERSION_ID="%s"\n' "$HX_DEB_NAME" "$HX_DEB_VERSION_ID"
      if [[ $1 == debian11 ]]; then
        printf 'VERSION="11 (bullseye)"\nVERSION_CODENAME=bullseye\n'
      else
        printf 'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\n'
      fi
      printf 'ID=debian\nHOME_URL="https://www.debian.org/"\nSUPPORT_URL="https://www.debian.org/support"\nBUG_REPORT_URL="https://bugs.debian.org/"\n'
      ;;
    ubuntu2204)
      cat <<'EOF'
PRETTY_NAME="Ubuntu 22.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.3 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
EOF
      ;;
  esac
}

# Kernel module files and modules.dep lines of the phony Debian kernels.
HX_DEB_MODULES=(
  "kernel/drivers/hv/hv_vmbus.ko:"
  "kernel/drivers/hv/hv_utils.ko: kernel/drivers/hv/hv_vmbus.ko"
  "kernel/drivers/scsi/hv_storvsc.ko: kernel/drivers/scsi/scsi_transport_fc.ko kernel/drivers/hv/hv_vmbus.ko"
  "kernel/drivers/scsi/scsi_transport_fc.ko:"
  "kernel/drivers/net/hyperv/hv_netvsc.ko: kernel/drivers/hv/hv_vmbus.ko"
  "kernel/drivers/scsi/vmw_pvscsi.ko:"
  "kernel/drivers/net/vmxnet3/vmxnet3.ko:"
  "kernel/drivers/md/dm-mod.ko:"
  "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko"
  "kernel/fs/jbd2/jbd2.ko:"
  "kernel/fs/mbcache.ko:"
  "kernel/fs/xfs/xfs.ko:"
)

# hx_g_deb_modules DIR KVER [nohv] : DIR/KVER/{modules.dep,builtin,order,
# kernel/...} (without the Hyper-V drivers with nohv).
hx_g_deb_modules() {
  local d=$1/$2 line f
  mkdir -p "$d"
  : >"$d/modules.dep"
  for line in "${HX_DEB_MODULES[@]}"; do
    f=${line%%:*}
    [[ ${3:-} != nohv || ( $f != */hv/* && $f != */hv_* ) ]] || continue
    hx_g_placeholder "$d/$f"
    printf '%s\n' "$line" >>"$d/modules.dep"
  done
  sed -n 's/:.*//p' "$d/modules.dep" >"$d/modules.order"
  printf 'kernel/%s.ko\n' drivers/ata/libata drivers/block/loop drivers/scsi/scsi_mod drivers/scsi/sd_mod \
    drivers/usb/core/usbcore crypto/crc32c_generic lib/crc16 >"$d/modules.builtin"
}

# hx_g_deb_root DIR RELEASE NIC IP [MODULES] : a phony Debian-family root
# (no fstab; MODULES: initramfs.conf's, default most):
# os-release (a symlink into usr/lib, as shipped), debian_version,
# lsb-release (Ubuntu), GRUB defaults, initramfs-tools config, network
# config (ifupdown or netplan), kernel modules, VMware tools, dpkg status.
hx_g_deb_root() {
  local d=$1 rel=$2 nic=$3 ip=$4 modules=${5:-most} lib=usr/lib
  hx_g_deb_release "$rel"
  mkdir -p "$d"/{boot,home,dev,proc,sys,run,tmp,root,mnt,media,opt,srv,var/tmp,var/log,var/lib/dpkg} \
    "$d"/usr/{bin,sbin,lib,share} "$d"/etc/{udev/rules.d,initramfs-tools/conf.d,grub.d,apt/sources.list.d}
  chmod 1777 "$d/tmp" "$d/var/tmp"
  chmod 0700 "$d/root"
  if [[ $HX_DEB_MERGED == yes ]]; then
    ln -s usr/bin "$d/bin"
    ln -s usr/sbin "$d/sbin"
    ln -s usr/lib "$d/lib"
    ln -s usr/lib64 "$d/lib64"
    mkdir -p "$d/usr/lib64"
  else
    mkdir -p "$d"/{bin,sbin,lib,lib64}
    lib=lib
  fi
  hx_g_deb_os_release "$rel" | hx_g_put "$d/usr/lib/os-release"
  ln -s ../usr/lib/os-release "$d/etc/os-release"
  printf '%s\n' "$HX_DEB_DV" >"$d/etc/debian_version"
  if [[ $rel == ubuntu* ]]; then
    printf 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\nDISTRIB_DESCRIPTION="Ubuntu 22.04.3 LTS"\n' >"$d/etc/lsb-release"
  fi
  printf '%s-vm\n' "$rel" >"$d/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s-vm\n\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n' "$rel" >"$d/etc/hosts"
  hx_hex 32 machine-id "$HX_G_FIXTURE/$rel" >"$d/etc/machine-id"
  hx_g_put "$d/etc/default/grub" <<EOF
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=\`lsb_release -i -s 2> /dev/null || echo Debian\`
GRUB_CMDLINE_LINUX_DEFAULT="$HX_DEB_CMDLINE"
GRUB_CMDLINE_LINUX=""

# Uncomment to disable graphical terminal (grub-pc only)
#GRUB_TERMINAL=console
EOF
  hx_g_put "$d/etc/initramfs-tools/initramfs.conf" <<EOF
#
# initramfs.conf
# Configuration file for mkinitramfs(8). See initramfs.conf(5).
#
# Note that configuration options from this file can be overridden
# by config files in the /etc/initramfs-tools/conf.d directory.

#
# MODULES: [ most | netboot | dep | list ]
#
# most - Add most filesystem and all harddrive drivers.
#
# dep - Try and guess which modules to load.
#
# netboot - Add the base modules, network modules, but skip block devices.
#
# list - Only include modules from the 'additional modules' list
#

MODULES=$modules

#
# BUSYBOX: [ y | n | auto ]
#
# Use busybox shell and utilities.  If set to n, busybox(1) must be
# installed and will not be used.
#

BUSYBOX=auto

#
# COMPRESS: [ gzip | bzip2 | lz4 | lzma | lzop | xz | zstd ]
#

COMPRESS=$HX_DEB_ZIP
EOF
  hx_g_put "$d/etc/initramfs-tools/modules" <<'EOF'
# List of modules that you want to include in your initramfs.
# They will be loaded at boot time in the order below.
#
# Syntax:  module_name [args ...]
#
# You must run update-initramfs(8) to effect this change.
#
# Examples:
#
# raid1
# sd_mod
EOF
  if [[ $rel == ubuntu* ]]; then
    hx_g_put "$d/etc/netplan/00-installer-config.yaml" <<EOF
# This is the network config written by 'subiquity'
network:
  ethernets:
    $nic:
      addresses:
      - $ip/24
      nameservers:
        addresses:
        - 192.0.2.53
        search: []
      routes:
      - to: default
        via: 192.0.2.1
  version: 2
EOF
    chmod 0600 "$d/etc/netplan/00-installer-config.yaml"
  else
    hx_g_put "$d/etc/network/interfaces" <<EOF
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug $nic
iface $nic inet static
	address $ip/24
	gateway 192.0.2.1
	# dns-* options are implemented by the resolvconf package, if installed
	dns-nameservers 192.0.2.53
	dns-search example.com
EOF
    mkdir -p "$d/etc/network/interfaces.d"
  fi
  printf '[logging]\n\n[guestinfo]\n' | hx_g_put "$d/etc/vmware-tools/tools.conf"
  hx_g_deb_modules "$d/$lib/modules" "$HX_DEB_KVER"
  local p
  for p in usr/sbin/update-initramfs usr/sbin/update-grub usr/sbin/grub-mkconfig usr/bin/dpkg \
    usr/bin/apt-get usr/bin/vmtoolsd; do
    hx_g_placeholder "$d/$p" 0755
  done
  {
    for p in base-files:"$HX_DEB_DV" initramfs-tools:0.142 grub-pc:2.06-13 open-vm-tools:2:12.2.0-1 \
      "linux-image-$HX_DEB_KVER":"${HX_DEB_KVER%%-*}"-1; do
      printf 'Package: %s\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: %s\nDescription: %s\n\n' \
        "${p%%:*}" "${p#*:}" "${p%%:*}"
    done
  } >"$d/var/lib/dpkg/status"
  if [[ $rel != ubuntu* ]]; then
    # Debian keeps kernel/initrd symlinks in /
    ln -s "boot/vmlinuz-$HX_DEB_KVER" "$d/vmlinuz"
    ln -s "boot/initrd.img-$HX_DEB_KVER" "$d/initrd.img"
    ln -s "boot/vmlinuz-$HX_DEB_KVER" "$d/vmlinuz.old"
    ln -s "boot/initrd.img-$HX_DEB_KVER" "$d/initrd.img.old"
  fi
}

# hx_g_deb_boot DIR RELEASE PREFIX ROOTARG ROOT_UUID BOOT_UUID HINT [nohv] :
# the /boot content in DIR (PREFIX: path of DIR in GRUB's view, "" when
# /boot is its own file system, /boot when in the root one): kernel,
# config, initrd (with the Hyper-V modules, as MODULES=most makes it,
# unless nohv), grub/grub.cfg as grub-mkconfig writes it (root=ROOTARG,
# entry ids from ROOT_UUID, search BOOT_UUID, hint e.g. hd0,msdos1), grubenv.
hx_g_deb_boot() {
  local d=$1 rel=$2 pfx=$3 rootarg=$4 id=$5 buuid=$6 hint=$7 nohv=${8:-} w=$HX_WORK/initrd-deb lib=usr/lib p
  hx_g_deb_release "$rel"
  [[ $HX_DEB_MERGED == yes ]] || lib=lib
  mkdir -p "$d/grub/i386-pc" "$d/grub/fonts" "$d/grub/locale"
  hx_g_placeholder "$d/vmlinuz-$HX_DEB_KVER"
  hx_g_placeholder "$d/System.map-$HX_DEB_KVER"
  printf '#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 %s Kernel Configuration\n#\nCONFIG_HYPERVISOR_GUEST=y\nCONFIG_HYPERV=m\nCONFIG_HYPERV_UTILS=m\nCONFIG_HYPERV_STORAGE=m\nCONFIG_HYPERV_NET=m\nCONFIG_VMWARE_PVSCSI=m\nCONFIG_VMXNET3=m\nCONFIG_EXT4_FS=m\n' \
    "${HX_DEB_KVER%%-*}" >"$d/config-$HX_DEB_KVER"
  rm -rf "$w"
  mkdir -p "$w"/{usr/bin,usr/lib,scripts,conf,etc}
  if [[ $lib == usr/lib ]]; then ln -s usr/bin "$w/bin"; ln -s usr/lib "$w/lib"; else mkdir -p "$w/lib"; fi
  hx_g_deb_modules "$w/$lib/modules" "$HX_DEB_KVER" ${nohv:+"$nohv"}
  hx_g_placeholder "$w/init" 0755
  hx_g_placeholder "$w/usr/bin/busybox" 0755
  printf 'MODULES=%s\nBUSYBOX=y\n' "$(if [[ -n $nohv ]]; then echo dep; else echo most; fi)" >"$w/conf/initramfs.conf"
  hx_g_initramfs "$w" "$d/initrd.img-$HX_DEB_KVER" "$HX_DEB_ZIP"
  rm -rf "$w"
  if [[ $rel == ubuntu* ]]; then
    ln -s "vmlinuz-$HX_DEB_KVER" "$d/vmlinuz"
    ln -s "initrd.img-$HX_DEB_KVER" "$d/initrd.img"
  fi
  for p in normal linux ext2 part_msdos part_gpt lvm search_fs_uuid gzio; do
    hx_g_placeholder "$d/grub/i386-pc/$p.mod"
  done
  hx_g_placeholder "$d/grub/i386-pc/core.img"
  hx_g_placeholder "$d/grub/fonts/unicode.pf2"
  hx_g_grubenv "$d/grub/grubenv"
  local k=$HX_DEB_KVER t=$HX_DEB_TITLE c=$HX_DEB_CLASS
  local search="	insmod part_msdos
	insmod ext2
	set root='$hint'
	if [ x\$feature_platform_search_hint = xy ]; then
	  search --no-floppy --fs-uuid --set=root --hint-bios=$hint --hint-efi=$hint --hint-baremetal=ahci0,${hint#hd0,}  $buuid
	else
	  search --no-floppy --fs-uuid --set=root $buuid
	fi"
  [[ $hint == *gpt* ]] && search=${search/part_msdos/part_gpt}
  hx_g_put "$d/grub/grub.cfg" <<EOF
#
# DO NOT EDIT THIS FILE
#
# It is automatically generated by grub-mkconfig using templates
# from /etc/grub.d and settings from /etc/default/grub
#

### BEGIN /etc/grub.d/00_header ###
if [ -s \$prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "\${next_entry}" ] ; then
   set default="\${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="0"
fi

if [ x"\${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

if [ "\${prev_saved_entry}" ]; then
  set saved_entry="\${prev_saved_entry}"
  save_env saved_entry
  set prev_saved_entry=
  save_env prev_saved_entry
  set boot_once=true
fi

function savedefault {
  if [ -z "\${boot_once}" ]; then
    saved_entry="\${chosen}"
    save_env saved_entry
  fi
}
function load_video {
  if [ x\$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
    insmod efi_uga
    insmod ieee1275_fb
    insmod vbe
    insmod vga
    insmod video_bochs
    insmod video_cirrus
  fi
}

if [ x\$feature_default_font_path = xy ] ; then
   font=unicode
else
$search
    font="$pfx/grub/fonts/unicode.pf2"
fi

if loadfont \$font ; then
  set gfxmode=auto
  load_video
  insmod gfxterm
fi
terminal_output gfxterm
if [ x\$feature_timeout_style = xy ] ; then
  set timeout_style=menu
  set timeout=5
# Fallback normal timeout code in case the timeout_style feature is
# unavailable.
else
  set timeout=5
fi
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/10_linux ###
function gfxmode {
	set gfxpayload="\${1}"
}
set linux_gfx_mode=
export linux_gfx_mode
menuentry '$t' --class $c --class gnu-linux --class gnu --class os \$menuentry_id_option 'gnulinux-simple-$id' {
	load_video
	insmod gzio
	if [ x\$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
$search
	echo	'Loading Linux $k ...'
	linux	$pfx/vmlinuz-$k root=$rootarg ro  $HX_DEB_CMDLINE
	echo	'Loading initial ramdisk ...'
	initrd	$pfx/initrd.img-$k
}
submenu 'Advanced options for $t' \$menuentry_id_option 'gnulinux-advanced-$id' {
	menuentry '$t, with Linux $k' --class $c --class gnu-linux --class gnu --class os \$menuentry_id_option 'gnulinux-$k-advanced-$id' {
		load_video
		insmod gzio
		if [ x\$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
$search
		echo	'Loading Linux $k ...'
		linux	$pfx/vmlinuz-$k root=$rootarg ro  $HX_DEB_CMDLINE
		echo	'Loading initial ramdisk ...'
		initrd	$pfx/initrd.img-$k
	}
	menuentry '$t, with Linux $k (recovery mode)' --class $c --class gnu-linux --class gnu --class os \$menuentry_id_option 'gnulinux-$k-recovery-$id' {
		load_video
		insmod gzio
		if [ x\$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
$search
		echo	'Loading Linux $k ...'
		linux	$pfx/vmlinuz-$k root=$rootarg ro single
		echo	'Loading initial ramdisk ...'
		initrd	$pfx/initrd.img-$k
	}
}

### END /etc/grub.d/10_linux ###

### BEGIN /etc/grub.d/30_os-prober ###
### END /etc/grub.d/30_os-prober ###

### BEGIN /etc/grub.d/40_custom ###
# This file provides an easy way to add custom menu entries.  Simply type the
# menu entries you want to add after this comment.  Be careful not to change
# the 'exec' tail line above.
### END /etc/grub.d/40_custom ###
EOF
}

# hx_reg_hex sz|expand|multi STRING... : a .reg value in hex form, UTF-16LE
# with the terminating NUL(s): hex(1) REG_SZ, hex(2) REG_EXPAND_SZ, hex(7)
# REG_MULTI_SZ (one STRING per element).
hx_reg_hex() {
  perl -e '
    use strict; use warnings;
    my ($t, @s) = @ARGV;
    my %n = (sz => 1, expand => 2, multi => 7);
    defined $n{$t} or die "hx_reg_hex: type $t";
    my $b = join("", map { pack("v*", unpack("U*", $_), 0) } @s);
    $b .= "\0\0" if $t eq "multi";
    print "hex($n{$t}):", join(",", map { sprintf "%02x", $_ } unpack("C*", $b)), "\n";
  ' "$@"
}
