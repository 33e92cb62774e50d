from qualipipe.cli import main

main()
