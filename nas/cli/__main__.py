from nas.cli.main import main

main()
