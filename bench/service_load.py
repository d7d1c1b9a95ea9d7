#!/usr/bin/python3
"""Load benchmark of the reference service (examples/service), in one run.

Starts a redis-server on a free loopback port (no persistence), prepares the inputs in a temp
dir, starts the service under uvicorn on 127.0.0.1 and drives it with concurrent HTTP clients:

  fill512   N jobs (--fill) POST /inpaint with patchmatch on 512x512 JPEG photos (the PNGs of
            the dev set, cropped to 512x512, each with its blob mask), every job its own session
            (a fresh Redis hash with sceneLabels, the photo and mask in its own blob folder);
            straight after, the same jobs through a plain loop in this process (inpaint.run on
            the same files, the outputs written, --plain-threads loops at once, by default as
            many as the service's FILL_CONCURRENCY; --plain N runs a subset, throughput is per
            job), and the ratio of the two throughputs (target >= 0.85).
  infer     a few photos uploaded with PUT /images/{id}, waited on until encoded, then N calls
            (--infer) of POST /images/{id}/infer with one random point each.
  soak      fill512 at half the clients for M minutes (--soak-minutes): the memory slope.
  fill12mp  N jobs (--big) on the 12 MP JPEG of bench/make_photo.py with its 8% hole, with the
            `identity` model (bench/service_identity_model.py) in the service, then the same jobs
            against bench/seed_worker.py (PIL + numpy + OpenCV-python) under uvicorn with the same
            clients and the same concurrency: the throughput ratio (target >= 3x). A plain loop
            in this process (--big-plain jobs) gives the library's own ceiling at 12 MP.

The resident memory (RSS) of the server process is sampled every second during every phase
(of this process during the plain loops); each phase reports its least-squares slope in MiB/min
after a warm-up fraction of its samples (none under 10 samples). Latencies are per request as the
client sees them, so they include the wait in the server's queue (8 clients, 2 running at once).
A job counts as an error when the answer is not 200 (by status code), the request fails, or the
answer is 200 but the session is not `completed` or the edited image is missing. CPU ms/job is
the CPU time (user + system, all threads) of the serving process per completed job (of this
process for the plain loops; the clients' own CPU is in the JSON): with every core busy, a
throughput ratio tends to the inverse ratio of these, whatever the one-job latencies. Both services
get FILL_CONCURRENCY=--fill-concurrency; the reference service runs with its default logging.

On the 2-vCPU VM the full run takes over an hour: fill512 and its plain loop about 14 minutes
each (patchmatch, about 2.4 jobs a second), infer a few minutes with the tiny SAM-contract
modules (about 30 with --segmenter grabcut, about 1 call a second), the soak its M minutes,
fill12mp under 10 minutes.

Usage (from the repository root, after scripts/test.sh built build/python):
  nice /usr/bin/python3 bench/service_load.py --fill 2000 --infer 2000 --big 400 \\
      --soak-minutes 10 --clients 8 --out build/service_load.json
Prints a markdown table and writes everything as JSON (--out).
"""
import argparse
import asyncio
import base64
import importlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil
import redis
import redis.asyncio as aioredis

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MiB = 1 << 20
MIN_SLOPE_SAMPLES = 10

# One scene label set per photo of the dev set (what the segmentation service would write).
LABELS = [
    {"surface": "grass", "detail": "patchy grass", "confidence": 0.87},
    {"surface": "gravel", "detail": "grey gravel", "confidence": 0.74},
    {"surface": "concrete", "detail": "", "confidence": 0.66},
    {"surface": "wood", "detail": "old floorboards", "confidence": 0.91},
]


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q):
    return round(float(np.percentile(values, q)), 2) if values else None


def rfc3339_now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- processes


class RedisServer:
    def __init__(self, workdir):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--loglevel", "warning", "--dir", workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    raise RuntimeError("redis-server exited at startup")
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not answer")
        client.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Server:
    """A uvicorn server in a subprocess, its output in a log file."""

    def __init__(self, name, app_args, env, workdir):
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, f"{name}.log")
        cmd = [sys.executable, "-m", "uvicorn", *app_args, "--host", "127.0.0.1", "--port", str(self.port),
               "--log-level", "warning", "--no-access-log"]
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
        self.pid = self.proc.pid
        self.ready_body = None

    def wait_ready(self, timeout_s):
        """Seconds until /readyz said 200; its body is kept in self.ready_body."""
        start = time.monotonic()
        with httpx.Client(timeout=5) as client:
            while time.monotonic() - start < timeout_s:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited ({self.proc.returncode}) at startup: {self.last_line()}")
                try:
                    answer = client.get(self.url + "/readyz")
                    if answer.status_code == 200:
                        try:
                            self.ready_body = answer.json()
                        except ValueError:
                            self.ready_body = answer.text[:1000]
                        return round(time.monotonic() - start, 2)
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"{self.name}: /readyz not 200 after {timeout_s} s; last log line: {self.last_line()}")

    def metrics(self):
        try:
            answer = httpx.get(self.url + "/metrics", timeout=10)
            return answer.text if answer.status_code == 200 else None
        except httpx.HTTPError:
            return None

    def last_line(self):
        lines = self.log_tail().strip().splitlines()
        return lines[-1] if lines else "(no output)"

    def log_tail(self, chars=3000):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-chars:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class RssSampler:
    """Samples one process's RSS every second, filed under the phase being run."""

    def __init__(self, interval_s=1.0):
        self.interval_s = interval_s
        self.samples = {}  # phase -> [(t, rss bytes)]
        self._target = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def track(self, pid, phase):
        with self._lock:
            self._target = (psutil.Process(pid), phase)
            self.samples.setdefault(phase, [])
        self._sample()

    def untrack(self):
        self._sample()
        with self._lock:
            self._target = None

    def _sample(self):
        with self._lock:
            if self._target is None:
                return
            proc, phase = self._target
            try:
                self.samples[phase].append((time.monotonic(), proc.memory_info().rss))
            except psutil.Error:
                pass

    def _loop(self):
        while not self._stop.wait(self.interval_s):
            self._sample()

    def close(self):
        self._stop.set()
        self._thread.join()

    def summary(self, phase, warmup_fraction):
        samples = self.samples.get(phase, [])
        if not samples:
            return None
        t = np.array([s[0] for s in samples]) - samples[0][0]
        rss = np.array([s[1] for s in samples], dtype=np.float64) / MiB
        out = {"samples": len(samples), "start_mib": round(rss[0], 1), "end_mib": round(rss[-1], 1),
               "max_mib": round(rss.max(), 1), "slope_mib_per_min": None, "warmup_fraction": warmup_fraction}
        keep = t >= warmup_fraction * t[-1]
        if keep.sum() >= MIN_SLOPE_SAMPLES:  # fewer: too short a phase for a slope
            out["slope_mib_per_min"] = round(float(np.polyfit(t[keep] / 60.0, rss[keep], 1)[0]), 3)
        return out


# --------------------------------------------------------------------------- inputs


def prepare_inputs(root, data_dir, want_big):
    """The 512x512 photo + mask pairs and (want_big) the 12 MP pair, as files under root."""
    os.makedirs(os.path.join(root, "inputs"), exist_ok=True)
    pairs = []
    names = sorted(f[:-4] for f in os.listdir(data_dir) if f.endswith(".png") and "_mask" not in f)
    for i, name in enumerate(names):
        mask_file = os.path.join(data_dir, f"{name}_mask_blob.png")
        if not os.path.exists(mask_file):
            continue
        photo = cv2.imread(os.path.join(data_dir, f"{name}.png"), cv2.IMREAD_COLOR)
        mask = cv2.imread(mask_file, cv2.IMREAD_GRAYSCALE)
        photo, mask = square_512(photo, cv2.INTER_AREA), square_512(mask, cv2.INTER_NEAREST)
        if not (mask > 127).any():
            continue
        image_rel, mask_rel = f"inputs/{name}_512.jpg", f"inputs/{name}_512_mask.png"
        cv2.imwrite(os.path.join(root, image_rel), photo, [cv2.IMWRITE_JPEG_QUALITY, 92])
        cv2.imwrite(os.path.join(root, mask_rel), mask)
        pairs.append({"name": name, "image": image_rel, "mask": mask_rel, "labels": LABELS[i % len(LABELS)],
                      "hole": round(float((mask > 127).mean()), 4)})
    if not pairs:
        raise RuntimeError(f"no photo with a *_mask_blob.png in {data_dir}")
    big = None
    if want_big:
        subprocess.run([sys.executable, os.path.join(HERE, "make_photo.py"), os.path.join(root, "inputs"), "0.08"],
                       check=True, stdout=subprocess.DEVNULL)
        big = {"name": "photo12mp", "image": "inputs/photo12mp.jpg", "mask": "inputs/photo12mp_mask.png",
               "labels": LABELS[0], "hole": 0.08}
    return pairs, big


def square_512(img, interpolation):
    h, w = img.shape[:2]
    scale = 512 / min(h, w)
    if scale != 1:
        img = cv2.resize(img, (max(512, round(w * scale)), max(512, round(h * scale))), interpolation=interpolation)
    h, w = img.shape[:2]
    y, x = (h - 512) // 2, (w - 512) // 2
    return np.ascontiguousarray(img[y:y + 512, x:x + 512])


# --------------------------------------------------------------------------- the load


class Stats:
    def __init__(self):
        self.latencies_ms = []
        self.errors = {}
        self.stage_ms = {}  # the service's own per-stage timings, from the session

    def error(self, kind):
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def report(self, wall_s, extra=None):
        ok = len(self.latencies_ms)
        out = {
            "ok": ok, "errors": dict(sorted(self.errors.items())), "error_count": sum(self.errors.values()),
            "wall_s": round(wall_s, 2), "throughput_per_s": round(ok / wall_s, 3) if wall_s > 0 else None,
            "latency_ms": {"p50": percentile(self.latencies_ms, 50), "p95": percentile(self.latencies_ms, 95),
                           "p99": percentile(self.latencies_ms, 99),
                           "max": round(max(self.latencies_ms), 2) if ok else None},
        }
        if self.stage_ms:
            out["service_stage_ms_p50"] = {k: percentile(v, 50) for k, v in sorted(self.stage_ms.items())}
        out.update(extra or {})
        return out


async def fill_load(url, blob_root, redis_url, jobs, clients, count=None, duration_s=None, verify=True):
    """Drives POST /inpaint with `clients` concurrent clients over `jobs` (cycled) until `count`
    jobs were sent or `duration_s` passed. Each job gets a fresh session and blob folder,
    made before its request is timed; after a 200 the session and output are checked and removed."""
    stats = Stats()
    sessions = aioredis.Redis.from_url(redis_url, decode_responses=True)
    run_id = uuid.uuid4().hex[:8]
    issued = 0
    deadline = None

    def next_job():
        nonlocal issued
        if count is not None and issued >= count:
            return None
        if deadline is not None and time.monotonic() >= deadline:
            return None
        job = jobs[issued % len(jobs)]
        issued += 1
        return issued, job

    async def one(client, n, job):
        user, session = f"user{n % 64}", f"{run_id}-{n:06d}"
        folder = f"users/{user}/sessions/{session}"
        os.makedirs(os.path.join(blob_root, folder))
        image_rel, mask_rel = f"{folder}/original.jpg", f"{folder}/mask.png"
        os.link(os.path.join(blob_root, job["image"]), os.path.join(blob_root, image_rel))
        os.link(os.path.join(blob_root, job["mask"]), os.path.join(blob_root, mask_rel))
        key = f"session:{user}:{session}"
        await sessions.hset(key, mapping={"processingStatus": "pending", "sceneLabels": json.dumps(job["labels"])})
        data = {"userId": user, "sessionId": session, "imagePath": image_rel, "maskPath": mask_rel}
        envelope = {
            "message": {"data": base64.b64encode(json.dumps(data).encode()).decode(), "attributes": {},
                        "messageId": f"m{n}", "publishTime": rfc3339_now()},
            "subscription": "projects/bench/subscriptions/inpaint", "deliveryAttempt": 1,
        }
        body = json.dumps(envelope).encode()
        start = time.perf_counter()
        try:
            answer = await client.post(url + "/inpaint", content=body, headers={"content-type": "application/json"})
            elapsed_ms = (time.perf_counter() - start) * 1000
            if answer.status_code != 200:
                stats.error(f"http_{answer.status_code}")
            elif not verify or await check_session(key, blob_root, sessions, stats):
                stats.latencies_ms.append(elapsed_ms)
        except httpx.HTTPError as e:
            stats.error(f"exception:{type(e).__name__}")
        finally:
            await sessions.delete(key)
            shutil.rmtree(os.path.join(blob_root, folder), ignore_errors=True)

    async def client_loop(client):
        while (item := next_job()) is not None:
            await one(client, *item)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=httpx.Timeout(900.0), limits=limits) as client:
        start = time.perf_counter()
        if duration_s is not None:
            deadline = time.monotonic() + duration_s
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        wall = time.perf_counter() - start
    await sessions.close()
    return stats.report(wall, {"clients": clients, "sent": issued})


async def check_session(key, blob_root, sessions, stats):
    fields = await sessions.hgetall(key)
    if fields.get("processingStatus") != "completed":
        stats.error(f"status_{fields.get('processingStatus', 'missing')}")
        return False
    edited = fields.get("editedImagePath", "")
    path = edited if os.path.isabs(edited) else os.path.join(blob_root, edited)
    if not edited or not os.path.isfile(path) or os.path.getsize(path) == 0:
        stats.error("no_edited_image")
        return False
    try:
        for stage, ms in json.loads(fields.get("timings") or "{}").items():
            if isinstance(ms, (int, float)):
                stats.stage_ms.setdefault(stage, []).append(float(ms))
    except ValueError:
        pass
    return True


async def infer_load(url, photos, count, clients, seed=7):
    """Uploads the photos (PUT /images/{id}), waits for their encodings, then `count` infer calls."""
    stats = Stats()
    rng = random.Random(seed)
    ids = []
    upload = {}
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0)) as client:
        start = time.perf_counter()
        for photo in photos:
            image_id = f"bench{uuid.uuid4().hex[:12]}"
            with open(photo["path"], "rb") as f:
                answer = await client.put(f"{url}/images/{image_id}", content=f.read(),
                                          headers={"content-type": "image/jpeg"})
            if answer.status_code >= 300:
                raise RuntimeError(f"PUT /images/{image_id}: {answer.status_code} {answer.text[:300]}")
            ids.append((image_id, photo["width"], photo["height"]))
        for image_id, _, _ in ids:
            while True:
                answer = await client.get(f"{url}/images/{image_id}")
                status = answer.json().get("encoding_status") if answer.status_code == 200 else None
                if status == "completed":
                    break
                if status == "failed" or time.perf_counter() - start > 600:
                    raise RuntimeError(f"GET /images/{image_id}: {answer.status_code} {answer.text[:300]}")
                await asyncio.sleep(0.05)
        upload = {"images": len(ids), "upload_and_encode_s": round(time.perf_counter() - start, 2)}

    calls = [(ids[i % len(ids)][0], rng.randrange(ids[i % len(ids)][1]), rng.randrange(ids[i % len(ids)][2]))
             for i in range(count)]
    issued = 0
    stage_ms = {}

    async def client_loop(client):
        nonlocal issued
        while issued < len(calls):
            image_id, x, y = calls[issued]
            issued += 1
            body = json.dumps({"points": [[x, y, 1]], "format": "rle"}).encode()
            start = time.perf_counter()
            try:
                answer = await client.post(f"{url}/images/{image_id}/infer", content=body,
                                           headers={"content-type": "application/json"})
            except httpx.HTTPError as e:
                stats.error(f"exception:{type(e).__name__}")
                continue
            elapsed_ms = (time.perf_counter() - start) * 1000
            if answer.status_code != 200:
                stats.error(f"http_{answer.status_code}")
                continue
            try:
                reply = answer.json()
            except ValueError:
                stats.error("bad_json")
                continue
            if not isinstance(reply.get("masks"), list):
                stats.error("no_masks")
                continue
            stats.latencies_ms.append(elapsed_ms)
            for stage, ms in (reply.get("timings") or {}).items():
                if isinstance(ms, (int, float)):
                    stage_ms.setdefault(stage, []).append(float(ms))

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        wall = time.perf_counter() - start
    stats.stage_ms = stage_ms
    return stats.report(wall, {"clients": clients, "sent": issued, **upload})


def plain_loop(inpaint, spec, blob_root, jobs, count, threads, out_dir):
    """The same fills without the service: inpaint.run in this process, `threads` loops at once
    (each reads its two files, runs, writes the result and the preview)."""
    model = inpaint.Model(spec)
    first = jobs[0]
    with open(os.path.join(blob_root, first["image"]), "rb") as f, open(os.path.join(blob_root, first["mask"]), "rb") as g:
        inpaint.run(model, f.read(), g.read(), preview_long_side=1024)  # warm-up, untimed
    os.makedirs(out_dir, exist_ok=True)
    latencies, lock, next_index = [], threading.Lock(), [0]

    def loop(worker):
        while True:
            with lock:
                n = next_index[0]
                if n >= count:
                    return
                next_index[0] += 1
            job = jobs[n % len(jobs)]
            start = time.perf_counter()
            with open(os.path.join(blob_root, job["image"]), "rb") as f:
                image = f.read()
            with open(os.path.join(blob_root, job["mask"]), "rb") as f:
                mask = f.read()
            prompt = inpaint.build_prompt(job["labels"]).text
            result = inpaint.run(model, image, mask, prompt=prompt, preview_long_side=1024)
            inpaint.write_file_atomic(os.path.join(out_dir, f"edited{worker}.jpg"), result.encoded)
            inpaint.write_file_atomic(os.path.join(out_dir, f"preview{worker}.jpg"), result.preview)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(elapsed)

    me = psutil.Process()
    cpu_start = cpu_seconds(me)
    start = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    cpu_s = cpu_seconds(me) - cpu_start
    stats = Stats()
    stats.latencies_ms = latencies
    cpu = {"worker_s": round(cpu_s, 2), "worker_ms_per_job": round(1000 * cpu_s / max(1, len(latencies)), 1)}
    return stats.report(wall, {"threads": threads, "model": spec, "cpu": cpu})  # without the warm-up


# --------------------------------------------------------------------------- the run


def service_env(args, redis_url, blob_root, model_spec, extra_path=(), reference=True):
    """The environment of a server: the same stores and concurrency for both services; the
    --service-env extras only for the reference service; MODEL_SPEC per phase."""
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": os.pathsep.join([args.service_dir, args.module_path, *extra_path]),
        "SESSION_STORE": redis_url,
        "BLOB_ROOT": blob_root,
        "FILL_CONCURRENCY": str(args.fill_concurrency),
    })
    env.pop("MODEL_VARIANT", None)
    if reference:
        env.update(args.service_env)
    env["MODEL_SPEC"] = model_spec
    return env


def cpu_seconds(proc):
    try:
        times = proc.cpu_times()
        return times.user + times.system
    except psutil.Error:
        return None


def run_phase(results, name, sampler, server, args, fn):
    """Runs one phase with the server's RSS sampled under its name and its CPU time counted
    (and this process's, the clients'); a failure is recorded, not fatal."""
    log(f"phase {name} ...")
    pid = server.pid if server is not None else os.getpid()  # plain loops: this process
    worker, me = psutil.Process(pid), psutil.Process()
    cpu_start = (cpu_seconds(worker), cpu_seconds(me))
    sampler.track(pid, name)
    try:
        outcome = fn()
        results[name] = asyncio.run(outcome) if asyncio.iscoroutine(outcome) else outcome
    except Exception as e:  # noqa: BLE001 - the report says what broke and the run goes on
        results[name] = {"failed": f"{type(e).__name__}: {e}"}
        log(f"phase {name} failed: {e}")
    finally:
        sampler.untrack()
        rss = sampler.summary(name, args.warmup_fraction)
        if rss is not None:
            rss["process"] = "server" if server is not None else "this (load) process"
        results[name]["rss"] = rss
        cpu_end = (cpu_seconds(worker), cpu_seconds(me))
        if None not in cpu_start + cpu_end and "cpu" not in results[name]:
            cpu = {"worker_s": round(cpu_end[0] - cpu_start[0], 2)}
            if results[name].get("ok"):
                cpu["worker_ms_per_job"] = round(1000 * cpu["worker_s"] / results[name]["ok"], 1)
            if server is not None:
                cpu["clients_s"] = round(cpu_end[1] - cpu_start[1], 2)
            results[name]["cpu"] = cpu
        if server is not None and server.proc.poll() is not None:
            results[name]["server_exited"] = server.proc.returncode
            results[name]["server_log_tail"] = server.log_tail()
    log(f"phase {name}: {short(results[name])}")


def short(r):
    if "failed" in r:
        return r["failed"]
    return (f"ok {r.get('ok')} errors {r.get('errors')} {r.get('throughput_per_s')}/s "
            f"p50 {r.get('latency_ms', {}).get('p50')} ms")


def with_server(results, key, make_server, ready_timeout):
    try:
        server = make_server()
    except Exception as e:  # noqa: BLE001
        results[key] = {"failed": f"{type(e).__name__}: {e}"}
        return None
    try:
        results.setdefault("startup_s", {})[key] = server.wait_ready(ready_timeout)
        results.setdefault("readyz", {})[key] = server.ready_body
    except Exception as e:  # noqa: BLE001
        results[key] = {"failed": str(e)}
        log(f"{key}: {e}")
        server.stop()
        return None
    return server


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fill", type=int, default=2000, help="fill512 jobs (default 2000)")
    p.add_argument("--infer", type=int, default=2000, help="infer calls (default 2000)")
    p.add_argument("--big", type=int, default=400, help="fill12mp jobs per service (default 400)")
    p.add_argument("--soak-minutes", type=float, default=10.0, help="fill512 at half the clients (default 10; 0 skips)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--out", default="service_load.json", help="JSON results (default service_load.json)")
    p.add_argument("--plain", type=int, default=None, help="plain-loop fills at 512 (default: --fill)")
    p.add_argument("--plain-threads", type=int, default=None, help="plain-loop threads (default: --fill-concurrency)")
    p.add_argument("--big-plain", type=int, default=None, help="plain-loop identity fills at 12 MP (default min(--big, 100))")
    p.add_argument("--fill-concurrency", type=int, default=2, help="FILL_CONCURRENCY of both services (default 2)")
    p.add_argument("--infer-images", type=int, default=4, help="images uploaded for the infer phase (default 4)")
    p.add_argument("--warmup-fraction", type=float, default=0.2, help="RSS samples left out of each slope (default 0.2)")
    p.add_argument("--phases", default="fill512,infer,soak,fill12mp", help="phases to run (comma-separated)")
    p.add_argument("--data", default=os.path.join(os.path.dirname(REPO), "shared", "data", "inpaint-dev"),
                   help="the dev photos and their masks (default ../shared/data/inpaint-dev)")
    p.add_argument("--service-dir", default=os.path.join(REPO, "examples", "service"))
    p.add_argument("--module-path", default=os.path.join(REPO, "build", "python"), help="where `import inpaint` is")
    p.add_argument("--service-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment of the reference service (repeatable), e.g. LOG_LEVEL=WARNING")
    p.add_argument("--segmenter", default="sam-tiny",
                   help="SEGMENTER_SPEC of the reference service; sam-tiny (default): the SAM-contract test "
                        "modules of tests/python/sam_models.py (pooling encoder, disc decoder), so that infer "
                        "measures the service around a cached encoding and a cheap decoder; or any spec, e.g. grabcut")
    p.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for /readyz")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, /metrics snapshots)")
    args = p.parse_args()
    phases = set(args.phases.split(","))
    unknown = phases - {"fill512", "infer", "soak", "fill12mp"}
    if unknown:
        p.error(f"unknown phases {sorted(unknown)}")
    args.plain = args.fill if args.plain is None else args.plain
    try:
        args.service_env = dict(item.split("=", 1) for item in args.service_env)
    except ValueError:
        p.error("--service-env takes KEY=VALUE")
    args.plain_threads = args.plain_threads or args.fill_concurrency
    args.big_plain = min(args.big, 100) if args.big_plain is None else args.big_plain

    sys.path.insert(0, args.module_path)
    try:
        import inpaint  # noqa: E402 - from --module-path
    except ImportError as e:
        p.error(f"cannot import inpaint from {args.module_path} ({e}): build it (scripts/test.sh) or pass --module-path")

    workdir = tempfile.mkdtemp(prefix="service_load.")
    blob_root = os.path.join(workdir, "blobs")
    os.makedirs(blob_root)
    results = {
        "config": {k: v for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in os.getloadavg()],
                    "inpaint_version": inpaint.__version__, "python": sys.version.split()[0],
                    "commit": git_commit()},
        "started": rfc3339_now(),
    }
    log(f"workdir {workdir}")
    if args.segmenter == "sam-tiny":
        sys.path.insert(0, os.path.join(REPO, "tests", "python"))
        import sam_models  # noqa: E402 - python3-torch builds the modules

        args.segmenter = sam_models.spec(sam_models.save(Path(workdir) / "sam"))
    args.service_env.setdefault("SEGMENTER_SPEC", args.segmenter)
    sampler = RssSampler()
    redis_server = RedisServer(workdir)
    try:
        pairs, big = prepare_inputs(blob_root, args.data, "fill12mp" in phases)
        results["inputs"] = {"photos_512": [{k: p[k] for k in ("name", "hole")} for p in pairs],
                             "big": big and {"image": big["image"], "hole": big["hole"],
                                             "bytes": os.path.getsize(os.path.join(blob_root, big["image"]))}}
        run_service_phases(args, phases, results, sampler, redis_server.url, workdir, blob_root, pairs, big, inpaint)
    finally:
        redis_server.stop()
        sampler.close()
        results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        results["finished"] = rfc3339_now()
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(markdown(results))
    log(f"wrote {args.out}")


def run_service_phases(args, phases, results, sampler, redis_url, workdir, blob_root, pairs, big, inpaint):
    # The reference service with patchmatch: fill512, infer, soak.
    if phases & {"fill512", "infer", "soak"}:
        server = with_server(results, "service_patchmatch", lambda: Server(
            "service_patchmatch", ["inpaint_service.app:create_app", "--factory"],
            service_env(args, redis_url, blob_root, "patchmatch"), workdir), args.ready_timeout)
        if server is not None:
            try:
                if "fill512" in phases:
                    run_phase(results, "fill512", sampler, server, args, lambda: fill_load(
                        server.url, blob_root, redis_url, pairs, args.clients, count=args.fill))
                    # Straight after, so that both see the same machine (the server idles meanwhile).
                    if args.plain > 0:
                        run_phase(results, "fill512_plain", sampler, None, args, lambda: plain_loop(
                            inpaint, "patchmatch", blob_root, pairs, args.plain, args.plain_threads,
                            os.path.join(workdir, "plain")))
                if "infer" in phases:
                    photos = [{"path": os.path.join(blob_root, p["image"]), "width": 512, "height": 512}
                              for p in pairs[:args.infer_images]]
                    run_phase(results, "infer", sampler, server, args, lambda: infer_load(
                        server.url, photos, args.infer, args.clients))
                if "soak" in phases and args.soak_minutes > 0:
                    run_phase(results, "soak", sampler, server, args, lambda: fill_load(
                        server.url, blob_root, redis_url, pairs, max(1, args.clients // 2),
                        duration_s=args.soak_minutes * 60))
                save_metrics(server, workdir)
            finally:
                server.stop()

    if "fill12mp" in phases:
        identity_path = [HERE]
        server = with_server(results, "service_identity", lambda: Server(
            "service_identity", ["inpaint_service.app:create_app", "--factory"],
            {**service_env(args, redis_url, blob_root, "identity", identity_path),
             "SERVICE_MODEL_MODULES": "service_identity_model"}, workdir), args.ready_timeout)
        if server is not None:
            try:
                run_phase(results, "fill12mp", sampler, server, args, lambda: fill_load(
                    server.url, blob_root, redis_url, [big], args.clients, count=args.big))
                save_metrics(server, workdir)
            finally:
                server.stop()
        seed_env = service_env(args, redis_url, blob_root, "identity", reference=False)
        seed_env["PYTHONPATH"] = HERE  # no libinpaint in the seed worker's process
        seed_env["MODEL_VARIANT"] = "identity"
        server = with_server(results, "seed_worker", lambda: Server(
            "seed_worker", ["seed_worker:app", "--app-dir", HERE], seed_env, workdir), args.ready_timeout)
        if server is not None:
            try:
                run_phase(results, "fill12mp_seed", sampler, server, args, lambda: fill_load(
                    server.url, blob_root, redis_url, [big], args.clients, count=args.big))
            finally:
                server.stop()
        if args.big_plain > 0:
            sys.path.insert(0, HERE)
            importlib.import_module("service_identity_model")  # registers `identity` in this process
            run_phase(results, "fill12mp_plain", sampler, None, args, lambda: plain_loop(
                inpaint, "identity", blob_root, [big], args.big_plain, args.plain_threads,
                os.path.join(workdir, "plain")))

    ratios = {}
    tp = lambda k: (results.get(k) or {}).get("throughput_per_s")  # noqa: E731
    if tp("fill512") and tp("fill512_plain"):
        ratios["fill512_app_over_plain"] = {"value": round(tp("fill512") / tp("fill512_plain"), 3), "target": ">= 0.85"}
    if tp("fill12mp") and tp("fill12mp_seed"):
        ratios["fill12mp_app_over_seed"] = {"value": round(tp("fill12mp") / tp("fill12mp_seed"), 2), "target": ">= 3"}
    cpu = lambda k: ((results.get(k) or {}).get("cpu") or {}).get("worker_ms_per_job")  # noqa: E731
    if cpu("fill12mp") and cpu("fill12mp_seed"):
        ratios["fill12mp_seed_cpu_over_app_cpu"] = {"value": round(cpu("fill12mp_seed") / cpu("fill12mp"), 2)}
    if tp("fill12mp") and tp("fill12mp_plain"):
        ratios["fill12mp_app_over_plain"] = {"value": round(tp("fill12mp") / tp("fill12mp_plain"), 3)}
    results["ratios"] = ratios


def git_commit():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def save_metrics(server, workdir):
    text = server.metrics()
    if text is not None:
        with open(os.path.join(workdir, f"{server.name}.metrics.txt"), "w") as f:
            f.write(text)


def markdown(results):
    rows = [
        ("fill512", "service, patchmatch, 512x512"),
        ("fill512_plain", "plain inpaint.run loop, patchmatch, 512x512"),
        ("infer", "service, POST /images/{id}/infer"),
        ("soak", "service, fill512 at half the clients"),
        ("fill12mp", "service, identity, 12 MP"),
        ("fill12mp_seed", "seed worker, identity, 12 MP"),
        ("fill12mp_plain", "plain inpaint.run loop, identity, 12 MP"),
    ]
    lines = ["| phase | what | ok | errors | wall s | per s | p50 ms | p95 ms | p99 ms | CPU ms/job | RSS max MiB "
             "| RSS slope MiB/min |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, what in rows:
        r = results.get(key)
        if r is None:
            continue
        if "failed" in r:
            lines.append(f"| {key} | {what} | failed: {r['failed'].splitlines()[0][:120]} |" + " |" * 9)
            continue
        lat, rss = r.get("latency_ms", {}), r.get("rss") or {}
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
        lines.append(f"| {key} | {what} | {r['ok']} | {errors} | {r['wall_s']} | {r['throughput_per_s']} | "
                     f"{lat.get('p50')} | {lat.get('p95')} | {lat.get('p99')} | "
                     f"{(r.get('cpu') or {}).get('worker_ms_per_job', '-')} | {rss.get('max_mib', '-')} | "
                     f"{'-' if rss.get('slope_mib_per_min') is None else rss['slope_mib_per_min']} |")
    for key in ("service_patchmatch", "service_identity", "seed_worker"):
        if isinstance(results.get(key), dict) and "failed" in results[key]:
            lines.append(f"\n{key} did not start: {results[key]['failed'].splitlines()[0][:300]}")
    lines.append("\nCPU ms/job: CPU time of the serving process (for plain loops: this process) per completed job.")
    for name, r in results.get("ratios", {}).items():
        lines.append(f"\n{name}: **{r['value']}**" + (f" (target {r['target']})" if "target" in r else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
