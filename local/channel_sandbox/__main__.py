"""CLI: `python -m local.channel_sandbox serve [--port 8090] [--seed path]`."""

from __future__ import annotations

import argparse
import threading

from .server import ChannelSandbox


def _serve(args: argparse.Namespace) -> int:
    sb = ChannelSandbox.start(seed=args.seed, port=args.port, host=args.host)
    print(f"Channel sandbox listening on {sb.base_url}")
    print(f"  admin: {sb.base_url}/_sandbox/state (also /_sandbox/requests, reset, faults, config)")
    with sb.world.lock:
        stores = list(sb.world.stores)
    for channel, key in stores:
        print(f"  {channel:<12} {key}")
        print(f"    api_base_url : {sb.api_base_url(channel, key)}")
        for k, v in sb.credentials(channel, key).items():
            print(f"    {k:<13}: {v}")
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        sb.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.channel_sandbox")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run the sandbox until Ctrl-C")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--seed", default=None, help="seed JSON (default: local/channel_sandbox/seed.json)")
    args = parser.parse_args(argv)
    return _serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
