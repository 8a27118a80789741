from wirecheck.entry import main

main()
