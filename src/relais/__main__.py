from relais.cli import main

main()
