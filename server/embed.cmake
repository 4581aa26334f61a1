# Turns a text file into a C header holding it as a NUL-terminated
# unsigned char array, so the binary serves it without reading any file
# (the dashboard page). No tool beyond CMake itself.
#   cmake -DIN=dashboard.html -DOUT=dashboard_html.h -DNAME=pacer_dashboard_html
#         -P embed.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "/* Generated from ${IN} by embed.cmake: do not edit. */\n"
  "static const unsigned char ${NAME}[] = {\n${bytes}0x00};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
