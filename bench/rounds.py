"""Shared by the round-based bench scripts: reads hyperfine's round<N>.json files and prints
every command's pooled times as a Markdown table."""
import json
import statistics


def per_round(w, rounds):
    """The results of each round, in order: one list of hyperfine results per round."""
    return [json.load(open(f"{w}/round{r}.json"))["results"] for r in range(1, rounds + 1)]


def print_pooled(rounds_results):
    """One table row per command over the times of every round."""
    pooled = {}
    for results in rounds_results:
        for x in results:
            pooled.setdefault(x["command"], []).extend(x["times"])
    print("| command | runs | median | mean ± σ | min | max |")
    print("|:---|---:|---:|---:|---:|---:|")
    for name, times in pooled.items():
        print(f"| `{name}` | {len(times)} | {statistics.median(times):.3f} s | "
              f"{statistics.mean(times):.3f} s ± {statistics.stdev(times):.3f} | "
              f"{min(times):.3f} s | {max(times):.3f} s |")
