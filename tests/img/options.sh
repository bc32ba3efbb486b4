# Sourced by run.sh (in its scratch directory, with its helpers and images):
# qemu-img's options command by command, each run through both tools.
# Options corral refuses must fail with one error line naming the option.

# ---- global -------------------------------------------------------------------
new; ci -x; qi -x
t "unknown global option: same error as qemu-img" same_rc_err
new; ci foo; qi foo
t "unknown command: same error as qemu-img" same_err
new; ci --version; t "--version: one 'corral-img version' line" grep -q "^corral-img version " c.out
for cmd in info check map snapshot commit compare rebase resize create convert; do
  new; ci $cmd --bogus-option x; qi $cmd --bogus-option x
  t "$cmd --bogus-option: same error as qemu-img" same_rc_err
  new; ci $cmd --object secret,id=s0,data=x q3.qcow2 q3.qcow2
  t "$cmd --object: refused in one line" refused --object
  new; ci $cmd --image-opts q3.qcow2 q3.qcow2
  t "$cmd --image-opts: refused in one line" refused --image-opts
done
new; ci info -f; qi info -f
t "info -f without its argument: same error as qemu-img" same_rc_err
new; ci info --output; qi info --output
t "info --output without its argument: same error as qemu-img" same_rc_err
for cmd in "check -T bogus q3.qcow2" "compare -T bogus q3.qcow2 q3.qcow2" "commit -t bogus qtop.qcow2" \
           "rebase -t bogus -u -b q3.qcow2 -F qcow2 qtop.qcow2" "convert -T bogus q3.qcow2 x.raw" \
           "convert -t bogus q3.qcow2 x.raw"; do
  new; ci $cmd; qi $cmd
  t "$cmd: same error as qemu-img" same_rc_err
done
new; ci check -T none -U q3.qcow2; qi check -T none -U q3.qcow2
t "check -T none -U: same output as qemu-img" same_out

# ---- create -------------------------------------------------------------------
for size in 100 0 1.0 1. +5 " 10" 0x1000 1e3 1.5b 1kb 9223372036854775808 16E 2.5M; do
  new; ci create -f raw "c-$size.img" "$size"; qi create -f raw "q-$size.img" "$size"
  t "create size '$size': exit $rc_q like qemu-img" same_rc
  sed -i 's/q-\(.*\)\.img/c-\1.img/' q.out
  t "create size '$size': same output" same_out
  [ "$rc_q" -eq 0 ] && t "create size '$size': same virtual size and map" \
    same_map "q-$size.img" "c-$size.img"
done
new; ci create -f qcow2 c100.qcow2 100; qi create -f qcow2 q100.qcow2 100
t "create qcow2 of 100 bytes: size rounded to 512 like qemu-img" \
  is "$(qfield c100.qcow2 "['virtual-size']")" "$(qfield q100.qcow2 "['virtual-size']")"
for o in "compat=v2" "compat=v3,lazy_refcounts=on" "size=2M" "lazy_refcounts=yes"; do
  new; (cd q && qemu-img create -f qcow2 -o "$o" img) >q.out 2>q.err; (cd c && "$I" create -f qcow2 -o "$o" img) >c.out 2>c.err
  t "create -o $o: same 'Formatting' line" same_out
done
for o in "compat=v2,lazy_refcounts=on" "refcount_bits=7" "compat=2" "cluster_size=3000" "foo=bar" \
         "preallocation=bogus"; do
  new; ci create -f qcow2 -o "$o" ob.qcow2 1M; qi create -f qcow2 -o "$o" ob2.qcow2 1M
  t "create -o $o: refused like qemu-img" same_rc
done
new; ci create -f qcow2 -o size=2M twice.qcow2 3M; qi create -f qcow2 -o size=2M twice2.qcow2 3M
t "create with -o size= and a size: refused like qemu-img" same_rc
for p in falloc full; do
  new; (cd q && qemu-img create -f qcow2 -o preallocation=$p img 3M) >q.out; (cd c && "$I" create -f qcow2 -o preallocation=$p img 3M) >c.out
  t "create -f qcow2 -o preallocation=$p: same 'Formatting' line" same_out
  t "create -f qcow2 -o preallocation=$p: same map as qemu-img's" same_map q/img c/img
  t "create -f qcow2 -o preallocation=$p: check clean" qcheck c/img
done
for o in extended_l2=on refcount_bits=8 compression_type=zstd preallocation=metadata data_file=x \
         encrypt.format=luks; do
  new; ci create -f qcow2 -o "$o" ref-o.qcow2 1M
  t "create -o $o: refused in one line naming it" refused "${o%%=*}"
done
for p in off falloc full; do
  new; (cd q && qemu-img create -f raw -o preallocation=$p img 3M) >q.out; (cd c && "$I" create -f raw -o preallocation=$p img 3M) >c.out
  t "create -f raw -o preallocation=$p: same 'Formatting' line" same_out
  t "create -f raw -o preallocation=$p: same map as qemu-img's" same_map q/img c/img
  t "create -f raw -o preallocation=$p: same disk usage" is "$(du -k <c/img)" "$(du -k <q/img)"
done
for f in qcow2 raw; do
  new; ci create -f $f -o help; qi create -f $f -o help
  t "create -f $f -o help: exit 0" is "$rc_c" 0
  # every option corral lists is one qemu-img lists for the format
  names() { sed -n 's/^  \([a-z_.]*\)=.*/\1/p' "$1"; }
  t "create -f $f -o help: only qemu-img's option names" \
    test -z "$(comm -23 <(names c.out | sort) <({ names q.out; echo preallocation; } | sort) | tee -a "$log")"
done
new; ci convert -O qcow2 -o help; t "convert -O qcow2 -o help lists cluster_size" grep -q "^  cluster_size=" c.out

# ---- info / snapshot ----------------------------------------------------------
qemu-img create -q -u -f qcow2 -b gone.qcow2 -F qcow2 orphan.qcow2 1M
for o in human json; do
  new; ci info --output=$o orphan.qcow2; qi info --output=$o orphan.qcow2
  t "info --output=$o with a missing backing file: same as qemu-img" same_out
done
cp q3.qcow2 icount.qcow2
run "$I" snapshot -c made-by-corral icount.qcow2
run qemu-img snapshot -c made-by-qemu icount.qcow2
new; ci snapshot -l icount.qcow2; qi snapshot -l icount.qcow2
t "snapshot -l: ICOUNT as qemu-img shows it (blank unless recorded)" same_out
new; ci info --output=json icount.qcow2; qi info --output=json icount.qcow2
t "info --output=json: icount only where recorded, as qemu-img" same_out
new; ci snapshot -c x -l icount.qcow2; qi snapshot -c x -l icount.qcow2
t "snapshot -c with -l: refused like qemu-img" same_rc_err
new; ci snapshot icount.qcow2; qi snapshot icount.qcow2
t "snapshot without an action: nothing, like qemu-img" same_out

# ---- check --------------------------------------------------------------------
new; ci check -q --output=json leak.qcow2; qi check -q --output=json leak.qcow2
t "check -q --output=json: exit $rc_q and no output, like qemu-img" same_rc
t "check -q --output=json: same (empty) output" same_out

# ---- convert ------------------------------------------------------------------
for cmd in "-O qcow2 -S 1000" "-O qcow2 -S 32M" "-O qcow2 -m 17" "-O qcow2 -m 0" "--target-is-zero -O qcow2" \
           "-C -c -O qcow2" "-n -O qcow2 -o cluster_size=4k" "-O qcow2 -B q3.qcow2" "-O qcow2 -r 1x" \
           "-O raw -o cluster_size=4k"; do
  new; ci convert $cmd ref.raw cv-bad.img; qi convert $cmd ref.raw cv-bad2.img
  t "convert $cmd: refused like qemu-img" same_rc
done
for cmd in "-O raw -S 0" "-O qcow2 -S 0" "-O raw -o preallocation=full" "-O raw -o preallocation=falloc" \
           "-O qcow2 -o compat=v3" "-O qcow2 -m 4 -W -C" "-O raw -r 64M" "-O qcow2 --salvage"; do
  new; run "$I" convert $cmd ref.raw cv-c.img; run qemu-img convert $cmd ref.raw cv-q.img
  t "convert $cmd: same content" qcmp cv-c.img ref.raw
  t "convert $cmd: same map as qemu-img's" same_map cv-q.img cv-c.img
done
for o in "-l snap1" "--bitmaps" "--target-image-opts"; do
  new; ci convert $o -O qcow2 q2.qcow2 cv-r.qcow2
  t "convert $o: refused in one line naming it" refused "${o%% *}"
done
qemu-img create -q -f qcow2 cv-nq.qcow2 64M; cp cv-nq.qcow2 cv-nc.qcow2
new; run qemu-img convert -n --target-is-zero -O qcow2 ref.raw cv-nq.qcow2
run "$I" convert -n --target-is-zero -O qcow2 ref.raw cv-nc.qcow2
t "convert -n --target-is-zero: same map as qemu-img's" same_map cv-nq.qcow2 cv-nc.qcow2
new; run qemu-img convert -O qcow2 -B q3.qcow2 -F qcow2 qtop.qcow2 cv-bq.qcow2
run "$I" convert -O qcow2 -B q3.qcow2 -F qcow2 qtop.qcow2 cv-bc.qcow2
t "convert -B of an overlay onto its own backing file: same map as qemu-img's" same_map cv-bq.qcow2 cv-bc.qcow2

# ---- commit -------------------------------------------------------------------
# cb-base <- cb-mid <- cb-top, committed with -b into cb-base by both tools.
mkdir -p cq cc
qemu-img create -q -f qcow2 cq/base.qcow2 16M
qemu-io -f qcow2 -c 'write -P 1 0 4M' cq/base.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 cq/mid.qcow2
qemu-io -f qcow2 -c 'write -P 2 1M 1M' cq/mid.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 cq/top.qcow2
qemu-io -f qcow2 -c 'write -P 3 3M 2M' -c 'write -z 0 64k' cq/top.qcow2 >/dev/null
cp cq/*.qcow2 cc/
new; (cd cq && qemu-img commit -b base.qcow2 top.qcow2) >q.out 2>q.err
(cd cc && "$I" commit -b base.qcow2 top.qcow2) >c.out 2>c.err
t "commit -b BASE: same output as qemu-img" same_out
t "commit -b BASE: the base has the same content as qemu-img's" qcmp cq/base.qcow2 cc/base.qcow2
t "commit -b BASE: the base reads as the top did" qcmp cc/base.qcow2 cq/top.qcow2
t "commit -b BASE: the top is kept (-b implies -d)" same_map cq/top.qcow2 cc/top.qcow2
t "commit -b BASE: base check clean" qcheck cc/base.qcow2
new; ci commit -b nothere.qcow2 cc/top.qcow2; qi commit -b nothere.qcow2 cq/top.qcow2
sed -i 's/cq\//cc\//' q.err
t "commit -b with a file not in the chain: same error as qemu-img" same_rc_err
new; ci commit -r 1x cc/top.qcow2; qi commit -r 1x cq/top.qcow2
t "commit -r with a bad rate: refused like qemu-img" same_rc
cp cq/base.qcow2 cq/mid.qcow2 cq/top.qcow2 cc/
new; (cd cq && qemu-img commit -d -r 100M -t none -p top.qcow2) >q.out 2>q.err
(cd cc && "$I" commit -d -r 100M -t none -p top.qcow2) >c.out 2>c.err
t "commit -d -r -t -p: the backing file has the same content as qemu-img's" qcmp cq/mid.qcow2 cc/mid.qcow2
t "commit -d: the top is kept" same_map cq/top.qcow2 cc/top.qcow2
t "commit -p: progress ends at 100%" grep -q "100.00/100%" c.out

# ---- rebase -------------------------------------------------------------------
cp qtop.qcow2 rbq.qcow2; cp qtop.qcow2 rbc.qcow2
new; ci rebase -b base2.raw rbc.qcow2; qi rebase -b base2.raw rbq.qcow2
t "rebase -b without -F: same error as qemu-img 7.2" same_rc_err
t "rebase -b without -F: image unchanged" is "$(qfield rbc.qcow2 "['backing-filename']")" q3.qcow2
new; ci rebase rbc.qcow2; qi rebase rbq.qcow2
t "rebase without -b or -u: same exit as qemu-img" same_rc
new; ci rebase -u rbc.qcow2; qi rebase -u rbq.qcow2
t "rebase -u without -b: same exit as qemu-img" same_rc
t "rebase -u without -b: no backing file, as qemu-img" \
  is "$(qfield rbc.qcow2 ".get('backing-filename')")" "$(qfield rbq.qcow2 ".get('backing-filename')")"

# ---- resize -------------------------------------------------------------------
for p in falloc full; do
  qemu-img create -q -f raw rsq.raw 1M; "$I" create -q -f raw rsc.raw 1M
  new; ci resize -f raw --preallocation=$p rsc.raw 3M; qi resize -f raw --preallocation=$p rsq.raw 3M
  t "resize --preallocation=$p (raw): same output as qemu-img" same_out
  t "resize --preallocation=$p (raw): same map as qemu-img's" same_map rsq.raw rsc.raw
done
new; ci resize --preallocation=bogus rsc.raw 4M; qi resize --preallocation=bogus rsq.raw 4M
t "resize --preallocation=bogus: same error as qemu-img" same_rc_err
qemu-img create -q -f qcow2 rs512.qcow2 1M
new; ci resize rs512.qcow2 1000; qi resize rs512.qcow2 1000
t "resize qcow2 to a size not a multiple of 512: same error as qemu-img" same_rc_err
new; ci resize --preallocation=metadata rs512.qcow2 2M
t "resize --preallocation=metadata: refused in one line naming it" refused preallocation
qemu-img create -q -f qcow2 rspq.qcow2 1M; qemu-img create -q -f qcow2 rspc.qcow2 1M
new; ci resize --preallocation=full rspc.qcow2 3M; qi resize --preallocation=full rspq.qcow2 3M
t "resize --preallocation=full (qcow2): same output as qemu-img" same_out
t "resize --preallocation=full (qcow2): same map as qemu-img's" same_map rspq.qcow2 rspc.qcow2
t "resize --preallocation=full (qcow2): check clean" qcheck rspc.qcow2

# ---- map ----------------------------------------------------------------------
for a in "--start-offset=1000 --max-length=3M" "--start-offset=3M --max-length=1" "--start-offset=100M" \
         "--max-length=0" "--start-offset=64M" "--start-offset=1k --max-length=1G"; do
  for o in json human; do
    new; ci map --output=$o $a q3.qcow2; qi map --output=$o $a q3.qcow2
    t "map --output=$o $a: same as qemu-img" same_out
  done
done
new; ci map --start-offset=1x q3.qcow2; qi map --start-offset=1x q3.qcow2
t "map --start-offset=1x: refused like qemu-img" same_rc

# ---- compare ------------------------------------------------------------------
qemu-img create -q -f qcow2 cz1.qcow2 16M; qemu-img create -q -f qcow2 cz2.qcow2 16M
qemu-io -f qcow2 -c 'write -P 1 0 1M' cz1.qcow2 >/dev/null
qemu-io -f qcow2 -c 'write -P 1 0 1M' -c 'write -z 2M 1M' cz2.qcow2 >/dev/null
new; ci compare -s cz1.qcow2 cz2.qcow2; qi compare -s cz1.qcow2 cz2.qcow2
t "compare -s, zero clusters against unallocated: same as qemu-img" same_out
for a in "-x cz1.qcow2 cz2.qcow2" "cz1.qcow2" "-f raw -F qcow2 cz1.qcow2 cz2.qcow2" \
         "-f qcow2 cz1.qcow2 ref.raw" "-F raw cz1.qcow2 ref.raw"; do
  new; ci compare $a; qi compare $a
  t "compare $a: exit $rc_q like qemu-img" same_rc
done

# ---- images qemu left dirty; chains over raw files ----------------------------
qemu-img create -q -f qcow2 -o lazy_refcounts=on -b ref.raw -F raw dirty.qcow2
sh -c "ulimit -c 0; qemu-io -f qcow2 -c 'write -P 3 0 64k' -c abort dirty.qcow2; true" >/dev/null 2>&1
for o in human json; do
  new; ci info --output=$o dirty.qcow2; qi info --output=$o dirty.qcow2
  t "info --output=$o of a dirty image: same as qemu-img" same_out
done
qemu-img create -q -f qcow2 -b ref.raw -F raw onraw.qcow2
qemu-io -f qcow2 -c 'write -P 5 1M 4k' onraw.qcow2 >/dev/null
qemu-img convert -O raw onraw.qcow2 onraw.raw
for o in human json; do
  new; ci map --output=$o onraw.qcow2; qi map --output=$o onraw.qcow2
  t "map --output=$o over a raw backing file (holes): same as qemu-img" same_out
done
for s in "" -s; do
  new; ci compare $s onraw.qcow2 onraw.raw; qi compare $s onraw.qcow2 onraw.raw
  t "compare $s of an overlay over raw with raw: same as qemu-img" same_out
done

# ---- odd corners ----------------------------------------------------------------
new; ci create -f qcow2 -F qcow2 fnob.qcow2 1M; qi create -f qcow2 -F qcow2 fnob2.qcow2 1M
t "create -F without -b: refused like qemu-img" same_rc
new; ci create -f qcow2 -u -b gone.qcow2 -F qcow2 unosize.qcow2; qi create -f qcow2 -u -b gone.qcow2 -F qcow2 unosize.qcow2
t "create -u -b without a size: same error as qemu-img" same_rc_err
qemu-img create -q -f qcow2 rs0.qcow2 1M
new; ci resize --shrink rs0.qcow2 -- -1M; qi resize --shrink rs0.qcow2 -- -1M
t "resize to 0 bytes: same error as qemu-img" same_rc_err
new; ci resize --shrink rs0.qcow2 0; qi resize --shrink rs0.qcow2 0
t "resize to an absolute 0: same error as qemu-img" same_rc_err
# Zero clusters in a backing file are "present" for map and compare -s.
qemu-img create -q -f qcow2 zb.qcow2 4M
qemu-io -f qcow2 -c 'write -P 1 0 1M' -c 'write -z 1M 1M' zb.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b zb.qcow2 -F qcow2 zt.qcow2
new; ci map --output=json zt.qcow2; qi map --output=json zt.qcow2
t "map of zero clusters in the backing file: same as qemu-img" same_out
new; ci compare -s zt.qcow2 zb.qcow2; qi compare -s zt.qcow2 zb.qcow2
t "compare -s of an empty overlay with its backing file: same as qemu-img" same_out

# ---- -o lists and number syntax ----------------------------------------------------
for o in "" "," "cluster_size=64k,,lazy_refcounts=on" "=x" "cluster_size="; do
  new; ci create -f qcow2 -o "$o" olist.qcow2 1M; qi create -f qcow2 -o "$o" olist2.qcow2 1M
  t "create -o '$o': exit $rc_q like qemu-img" same_rc
done
mkdir -p 'with,comma'
qemu-img create -q -f qcow2 'with,comma/b.qcow2' 1M
new; ci create -f qcow2 -o 'backing_file=with,,comma/b.qcow2,backing_fmt=qcow2' comma.qcow2
t "create -o with ',,' in a value: the comma is kept" is "$(qfield comma.qcow2 "['backing-filename']")" "with,comma/b.qcow2"
for a in "--max-length=8E" "--max-length=99999999999999999999" "--start-offset=-5" "--start-offset=1x"; do
  new; ci map $a q3.qcow2; qi map $a q3.qcow2
  t "map $a: same error as qemu-img" same_rc_err_start
done

# ---- cache modes are honoured (O_DIRECT, O_DSYNC, no flush) ---------------------
for m in none writethrough directsync unsafe writeback; do
  new; run "$I" convert -t $m -T $m -O qcow2 qtop.qcow2 cache-$m.qcow2
  t "convert -t $m -T $m: same content" qcmp cache-$m.qcow2 top-ref.raw
  t "convert -t $m -T $m: check clean" qcheck cache-$m.qcow2
done
cp cq/base.qcow2 cq/mid.qcow2 cq/top.qcow2 cc/
new; (cd cc && "$I" commit -t none top.qcow2) >c.out 2>c.err
t "commit -t none: the backing file reads as the top did" qcmp cc/mid.qcow2 cq/top.qcow2
