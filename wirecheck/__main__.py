from wirecheck.cli import main

main()
