# Embeds every Lua script of store/lua/ into the binary: one C array per
# script, NUL-terminated, named pacer_lua_<file name without .lua>, in a
# generated lua_scripts.c, declared in lua_scripts.h. The .lua files are the
# source a reader opens (with syntax highlighting); nothing is read at run
# time. No tool beyond CMake itself.
#   cmake -DDIR=store/lua -DNAMES=limit_take,limit_pause -DOUT_C=lua_scripts.c
#         -DOUT_H=lua_scripts.h -DOUT_LUA=lua -P embed_lua.cmake
string(REPLACE "," ";" NAMES "${NAMES}")
set(c "/* Generated from the .lua files in store/lua/ by embed_lua.cmake: do not edit. */\n")
string(APPEND c "#include \"store/lua_scripts.h\"\n")
set(h "/* Generated from the .lua files in store/lua/ by embed_lua.cmake: do not edit.\n")
string(APPEND h " * The text of each Lua script pacer runs in Redis and its SHA1 (the\n")
string(APPEND h " * name EVALSHA calls it by, store/script.h); see docs/REDIS.md for\n")
string(APPEND h " * what each one does. */\n")
string(APPEND h "#ifndef PACER_STORE_LUA_SCRIPTS_H\n#define PACER_STORE_LUA_SCRIPTS_H\n\n")
string(APPEND h "#include <stddef.h>\n\n")
string(APPEND h "/** One embedded script: its text and the lower-case hex SHA1 of that\n")
string(APPEND h " *  text (40 characters), as Redis computes it for EVALSHA. Static,\n")
string(APPEND h " *  read-only; any thread. */\n")
string(APPEND h "struct pacer_lua_script {\n  const char *text;\n  const char *sha1;\n};\n\n")
string(APPEND h "/** Every embedded script, in PACER_LUA_SCRIPTS order. */\n")
string(APPEND h "extern const struct pacer_lua_script pacer_lua_all[];\n")
string(APPEND h "/** The number of entries of pacer_lua_all. */\n")
string(APPEND h "extern const size_t pacer_lua_count;\n\n")
set(table "")
foreach(name ${NAMES})
  # Full-line comments and blank lines stay in the .lua file for the
  # reader but are not sent: Redis hashes a script's whole text (SHA1) on
  # every EVAL, so comments would cost CPU on every call. Code lines,
  # including a trailing "-- ..." on one, go as they are. (A line starting
  # with "--" inside a multi-line [[...]] string would be dropped too; the
  # scripts have none.)
  file(READ "${DIR}/${name}.lua" code)
  set(code "\n${code}")
  # A line "--! include lib_x.lua" becomes the text of store/lua/lib_x.lua:
  # code several scripts share is written once (lib_done.lua). Included
  # files include nothing.
  string(REGEX MATCHALL "\n--! include [a-z_]+\\.lua" incs "${code}")
  foreach(inc ${incs})
    string(REGEX REPLACE "^\n--! include " "" lib "${inc}")
    file(READ "${DIR}/${lib}" libcode)
    string(REPLACE "${inc}" "\n${libcode}" code "${code}")
  endforeach()
  if(code MATCHES "\n[ \t]*--! *include")
    message(FATAL_ERROR "${name}.lua: an include line that names no "
                        "store/lua/lib_*.lua file as \"--! include lib_x.lua\"")
  endif()
  string(REGEX REPLACE "\n[ \t]*--[^\n]*" "" code "${code}")
  set(prev "")
  while(NOT code STREQUAL prev)
    set(prev "${code}")
    string(REGEX REPLACE "\n[ \t]*\n" "\n" code "${code}")
  endwhile()
  string(REGEX REPLACE "^\n" "" code "${code}")
  # The bytes sent, kept as ${OUT_LUA}/<name>.lua for tests that run a
  # script on its own (test_pages.sh C, through PACER_LUA_DIR).
  file(WRITE "${OUT_LUA}/${name}.lua" "${code}")
  file(READ "${OUT_LUA}/${name}.lua" hex HEX)
  # The SHA1 of exactly the bytes sent, computed here once (EVALSHA).
  file(SHA1 "${OUT_LUA}/${name}.lua" sha)
  string(APPEND table "  {pacer_lua_${name}, \"${sha}\"},\n")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
  string(APPEND c "\nconst char pacer_lua_${name}[] = {\n${bytes}0x00};\n")
  string(APPEND h "/** The code of store/lua/${name}.lua (its comment and blank\n")
  string(APPEND h " *  lines left out), NUL-terminated. Static,\n")
  string(APPEND h " *  read-only; any thread. */\n")
  string(APPEND h "extern const char pacer_lua_${name}[];\n")
endforeach()
string(APPEND c "\nconst struct pacer_lua_script pacer_lua_all[] = {\n${table}};\n")
string(APPEND c "\nconst size_t pacer_lua_count =\n    sizeof(pacer_lua_all) / sizeof(pacer_lua_all[0]);\n")
string(APPEND h "\n#endif\n")
file(WRITE "${OUT_C}.tmp" "${c}")
file(WRITE "${OUT_H}.tmp" "${h}")
file(RENAME "${OUT_C}.tmp" "${OUT_C}")
file(RENAME "${OUT_H}.tmp" "${OUT_H}")
