" Recognise .pipe files (pipec data pipelines).
autocmd BufRead,BufNewFile *.pipe setfiletype pipe
