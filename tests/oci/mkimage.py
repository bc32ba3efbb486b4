#!/usr/bin/env python3
"""Builds test images for corral-oci (and podman) from /bin/busybox: no registry.

usage: mkimage.py FORMAT OUT [--layers base,extra] [--name NAME] [--hostile KIND]
                  [--target DIR] [--gzip] [--user USER] [--plain]
  FORMAT   docker (docker-archive tar), oci (OCI layout directory), oci-tar
  layers   base   busybox-static, its applets, /etc/passwd and /etc/group, /etc/gone,
                  /opq/{a,b}
           extra  a whiteout of /etc/gone, /opq made opaque with /opq/c, user "app"
                  (1000:1000, also in group "staff" 50), /home/app
           note   one file /note (a small layer another image can share)
  hostile  one bad layer on top: dotdot, abs (entry "/abs"), symlink (an absolute
           symlink to --target, then a file written through it), device, hardlink
           (to a file outside the layer), xattr (trusted.overlay.redirect),
           size (a header larger than the data that follows), digest (blob bytes
           changed after hashing), missing (a blob the manifest names is absent),
           bomb (64 files of 1 MiB of zeros, gzip), opqname (a ".wh.." whiteout)
"""
import argparse, gzip, hashlib, io, json, os, shutil, tarfile, time

MTIME = 1700000000
PLAIN = False


def entry(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, **kw):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, MTIME
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, data


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    return buf.getvalue()


def d(name, mode=0o755, **kw):
    return entry(name, tarfile.DIRTYPE, mode=mode, **kw)


def base_layer():
    bb = open("/bin/busybox", "rb").read()
    es = [d("bin"), entry("bin/busybox", data=bb, mode=0o755), d("etc"), d("tmp", 0o1777),
          d("proc"), d("sys"), d("dev"), d("opq"), d("root", 0o700)]
    import subprocess
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True,
                             text=True).stdout.split()
    es += [entry("bin/" + a, tarfile.SYMTYPE, linkname="busybox", mode=0o777)
           for a in applets if a != "busybox"]
    es += [entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"),
           entry("etc/group", data=b"root:x:0:\nstaff:x:50:\n"),
           entry("etc/gone", data=b"this file is whited out by the extra layer\n"),
           entry("opq/a", data=b"a\n"), entry("opq/b", data=b"b\n")]
    return tar_bytes(es)


def extra_layer():
    return tar_bytes([
        d("etc"), entry("etc/.wh.gone"),
        d("opq"), entry("opq/.wh..wh..opq"), entry("opq/c", data=b"c\n"),
        entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"
              b"app:x:1000:1000:app:/home/app:/bin/sh\n"),
        entry("etc/group", data=b"root:x:0:\nstaff:x:50:app\napp:x:1000:\n"),
        d("home"), d("home/app", uid=1000, gid=1000),
        entry("home/app/hello", data=b"hello from the extra layer\n", uid=1000, gid=1000),
        entry("bin/suid", data=b"#!/bin/sh\n", mode=0o4755),
    ])


def note_layer():
    return tar_bytes([entry("note", data=b"a shared layer\n")])


def hostile_layer(kind, target):
    if kind == "dotdot":
        return tar_bytes([entry("../evil", data=b"x")])
    if kind == "abs":
        return tar_bytes([entry("/abs", data=b"x")], tarfile.GNU_FORMAT)
    if kind == "symlink":
        return tar_bytes([entry("escape", tarfile.SYMTYPE, linkname=target),
                          entry("escape/pwned", data=b"written through a symlink\n")])
    if kind == "device":
        return tar_bytes([d("dev"), entry("dev/mem2", tarfile.CHRTYPE, devmajor=1, devminor=1)])
    if kind == "hardlink":
        return tar_bytes([entry("link", tarfile.LNKTYPE, linkname="etc/passwd")])
    if kind == "xattr":
        ti, data = d("redir")
        ti.pax_headers = {"SCHILY.xattr.trusted.overlay.redirect": "/etc"}
        return tar_bytes([(ti, data)])
    if kind == "size":
        t = tar_bytes([entry("big", data=b"y" * 100000)], tarfile.USTAR_FORMAT)
        return t[:512 + 40000]     # the header says 100000 bytes, 40000 follow
    if kind == "bomb":
        return tar_bytes([entry("zeros%d" % i, data=bytes(1 << 20)) for i in range(64)])
    if kind == "opqname":
        return tar_bytes([entry(".wh..", data=b"")])
    return note_layer()    # digest, missing: a good layer, spoilt below


def sha(b):
    return hashlib.sha256(b).hexdigest()


def config_for(diff_ids, user, plain=False):
    cfg = {"Env": ["PATH=/usr/bin:/bin", "GREETING=hello world"],
           "Entrypoint": ["/bin/sh", "-c"],
           "Cmd": ['echo "$GREETING"; id; pwd'], "WorkingDir": "/"}
    if plain:   # as docker's busybox image: no Entrypoint, Cmd ["sh"]
        del cfg["Entrypoint"]
        cfg["Cmd"] = ["sh"]
    if user:
        cfg["User"] = user
        cfg["WorkingDir"] = "/home/app"
    return json.dumps({"architecture": "amd64", "os": "linux", "config": cfg,
                       "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(MTIME)),
                       "rootfs": {"type": "layers",
                                  "diff_ids": ["sha256:" + x for x in diff_ids]}}).encode()


def write_docker(out, layers, name, user, hostile):
    files = {}
    diff_ids = [sha(t) for t in layers]
    paths = []
    for t, h in zip(layers, diff_ids):
        files[h + "/layer.tar"] = t
        paths.append(h + "/layer.tar")
    if hostile == "digest":
        files[paths[-1]] = files[paths[-1]][:-1] + b"\x01"
    if hostile == "missing":
        del files[paths[-1]]
    cfg = config_for(diff_ids, user, PLAIN)
    files[sha(cfg) + ".json"] = cfg
    files["manifest.json"] = json.dumps([{"Config": sha(cfg) + ".json", "RepoTags": [name],
                                          "Layers": paths}]).encode()
    with tarfile.open(out, "w") as t:
        for n, data in files.items():
            ti, _ = entry(n, data=data)
            t.addfile(ti, io.BytesIO(data))


def write_oci(out, layers, name, user, hostile, compress, as_tar):
    blobs = {}
    descs = []
    for t in layers:
        blob = gzip.compress(t, mtime=0) if compress else t
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" +
                      ("+gzip" if compress else ""), "digest": "sha256:" + sha(blob),
                      "size": len(blob)})
        blobs[sha(blob)] = blob
    last = descs[-1]["digest"][7:]
    if hostile == "digest":
        blobs[last] = blobs[last][:-1] + bytes([blobs[last][-1] ^ 1])
    if hostile == "missing":
        del blobs[last]
    cfg = config_for([sha(t) for t in layers], user, PLAIN)
    blobs[sha(cfg)] = cfg
    man = json.dumps({"schemaVersion": 2,
                      "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": "sha256:" + sha(cfg), "size": len(cfg)},
                      "layers": descs}).encode()
    blobs[sha(man)] = man
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": "sha256:" + sha(man), "size": len(man),
         "annotations": {"org.opencontainers.image.ref.name": name}}]}
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
             "index.json": json.dumps(index).encode()}
    for h, b in blobs.items():
        files["blobs/sha256/" + h] = b
    if as_tar:
        with tarfile.open(out, "w") as t:
            for n, data in files.items():
                ti, _ = entry(n, data=data)
                t.addfile(ti, io.BytesIO(data))
        return
    shutil.rmtree(out, ignore_errors=True)
    for n, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(out, n)), exist_ok=True)
        open(os.path.join(out, n), "wb").write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("format", choices=["docker", "oci", "oci-tar"])
    ap.add_argument("out")
    ap.add_argument("--layers", default="base")
    ap.add_argument("--name", default="localhost/cbox:latest")
    ap.add_argument("--hostile")
    ap.add_argument("--target", default="/nonexistent")
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--user")
    ap.add_argument("--plain", action="store_true", help="no Entrypoint, Cmd [\"sh\"]")
    a = ap.parse_args()
    global PLAIN
    PLAIN = a.plain
    makers = {"base": base_layer, "extra": extra_layer, "note": note_layer}
    layers = [makers[n]() for n in a.layers.split(",") if n]
    if a.hostile:
        layers.append(hostile_layer(a.hostile, a.target))
    if a.hostile == "bomb":
        a.gzip = True
    if a.format == "docker":
        write_docker(a.out, layers, a.name, a.user, a.hostile)
    else:
        write_oci(a.out, layers, a.name, a.user, a.hostile, a.gzip, a.format == "oci-tar")


if __name__ == "__main__":
    main()
