from mtrec.app.main import main

main()
