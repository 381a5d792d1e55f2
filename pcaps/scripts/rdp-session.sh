#!/bin/sh
# X session for the xrdp capture: no window manager, one small xterm that shows who is logged in,
# then ends after 6 s. The end of the session makes xrdp disconnect the client (a clean close).
exec xterm -geometry 70x12+20+20 -e sh -c 'id; uname -n; sleep 6'
