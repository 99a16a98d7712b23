#!/usr/bin/env python3
"""Tables of one bench/side_by_side.sh run (its JSON lines file) for BENCHMARKS.md."""
import json
import sys


def rows(path):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                yield json.loads(line)


def fmt(x, digits=2):
    return "-" if x is None else f"{x:,.{digits}f}"


def main(path):
    runs = list(rows(path))
    loads = [r for r in runs if str(r.get("label", "")).startswith("load-") and "floor" in r]
    if loads:
        print("| players | codec | states/s p50 | bytes/client/s | server ms/player-s"
              " | floor ms/player-s | ratio to floor | tick p99 ms | load avg |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
        for r in loads:
            print(f"| {r['players']} | {r['codec']} | {fmt(r['statesPerClientSecond']['p50'], 1)}"
                  f" | {fmt(r['bytesPerClientSecond']['playersP50'], 0)}"
                  f" | {fmt(r['server']['cpuMsPerPlayerSecond'], 3)}"
                  f" | {fmt(r['floor']['cpuMsPerPlayerSecond'], 3)}"
                  f" | **{fmt(r.get('cpuRatioToFloor'))}**"
                  f" | {fmt(r['server']['tickP99MsLast1024'])} | {r['loadAverage']} |")
    peers = [r for r in runs if str(r.get("run", "")).startswith("peers-")]
    if peers:
        print("\n| Node generator, P | peer | mode | upd/s p1 | bytes/update | server CPU %"
              " | server ms/player-s | server µs/update | generator ELU |")
        print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
        for r in peers:
            per = (r["serverCpuPct"] * 10 / r["connected"]) if r.get("serverCpuPct") and r.get("connected") else None
            per_update = per / r["updRateP50"] * 1000 if per and r.get("updRateP50") else None
            print(f"| {r.get('players')} | {r.get('peer')} | {r.get('mode')} | {fmt(r.get('updRateP1'), 1)}"
                  f" | {fmt(r.get('bytesPerUpdate'), 1)} | {fmt(r.get('serverCpuPct'), 1)} | {fmt(per, 3)}"
                  f" | {fmt(per_update, 1)} | {fmt(r.get('loadgenEluMax'))} |")
    bridges = [r for r in runs if str(r.get("label", "")).startswith("bridge-")]
    if bridges:
        print("\n| sim --bridge, 10,000 matches | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|")
        for r in bridges:
            print(f"| {r['label'][7:]} | {fmt(r['p50Ms'], 3)} | {fmt(r['p99Ms'], 3)} | {fmt(r['maxMs'], 3)} |")
    ecs = [r for r in runs if r.get("label") == "ecs"]
    if ecs:
        print("\n| game | mode | matches | ECS ns/match p50 | baseline ns/match p50 | ecs/soa |")
        print("|---|---|---:|---:|---:|---:|")
        for r in ecs:
            base = r.get("baselineNsPerMatchTickP50")
            ratio = r["nsPerMatchTickP50"] / base if base else None
            print(f"| {r['game']} | {r['mode']} | {r['matches']} | {fmt(r['nsPerMatchTickP50'], 1)}"
                  f" | {fmt(base, 1)} | {fmt(ratio)} |")
    big = [r for r in runs if str(r.get("label", "")).endswith("-tick")]
    if big:
        print("\n| players | codec | tick p99 ms (last 1024) | states/s p1 | server cores | load avg |")
        print("|---:|---|---:|---:|---:|---|")
        for r in big:
            print(f"| {r['players']} | {r['codec']} | {fmt(r['server']['tickP99MsLast1024'])}"
                  f" | {fmt(r['statesPerClientSecond']['p1'], 1)} | {fmt(r['server']['cpuCores'])}"
                  f" | {r['loadAverage']} |")


if __name__ == "__main__":
    main(sys.argv[1])
