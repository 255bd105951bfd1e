"""The command line: the outermost shell over segpipe's domain functions."""
