"""python3 -m inpaint_service [--host H] [--port P]: the service under uvicorn, logs as JSON."""
import argparse
import os
import sys

import uvicorn

from .config import ConfigError, from_environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--timeout-keep-alive", type=int, default=75,
                        help="seconds an idle connection stays open (longer than a load balancer's)")
    args = parser.parse_args()
    try:
        from_environment()  # a bad setting stops the process here, in one line
    except ConfigError as e:
        print(f"inpaint_service: configuration error: {e}", file=sys.stderr)
        sys.exit(2)
    uvicorn.run("inpaint_service.app:create_app", factory=True, host=args.host, port=args.port,
                log_config=None, timeout_keep_alive=args.timeout_keep_alive, server_header=False)


if __name__ == "__main__":
    main()
