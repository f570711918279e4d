from retain.cli import main

main()
