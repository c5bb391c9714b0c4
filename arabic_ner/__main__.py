"""`python -m arabic_ner COMMAND ...`: the `arabic-ner` command without installing its script."""
from arabic_ner.cli import main

main()
