"""`python -m ssl_ads` is the same entry point as the `ssl-ads` console script."""

from ssl_ads.cli import main

if __name__ == "__main__":
    main()
