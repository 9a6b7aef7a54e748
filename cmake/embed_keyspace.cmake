# Writes the keyspace's Redis side as C, for shared/migrations.h.  Run with
# cmake -P at build time:
#   SCHEMA_OUT  ht_schema_required(): the SCHEMA of LIBRARY (every binary)
#   OUT         ht_keyspace: LIBRARY's text and the data steps STEPS, in
#               order (only `hangtight migrate` links it)
# LIBRARY is shared/library.lua, whose line "local SCHEMA = <n>" gives the
# version.  STEPS are migrations/NNNN_name.lua: each declares where it runs
# with a line "-- runs: before-library" or "-- runs: after-library", and
# its number is at most SCHEMA: a step runs on keyspaces recorded below its
# number; steps of one number run in the order of their names.
function(ht_c_bytes file out_var len_var)
  file(READ ${file} hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR len "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  set(${out_var} "${bytes}" PARENT_SCOPE)
  set(${len_var} ${len} PARENT_SCOPE)
endfunction()

file(STRINGS ${LIBRARY} schema_line REGEX "^local SCHEMA = [0-9]+$")
list(LENGTH schema_line n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "${LIBRARY}: wants exactly one line 'local SCHEMA = <number>'")
endif()
string(REGEX REPLACE "^local SCHEMA = " "" schema "${schema_line}")
math(EXPR schema "${schema}")

set(body "/* Generated from shared/library.lua and migrations/ by cmake/embed_keyspace.cmake. */\n#include \"shared/migrations.h\"\n\n")
ht_c_bytes(${LIBRARY} bytes library_len)
string(APPEND body "static const char library[] = {${bytes} 0};\n")
set(table "")
set(i 0)
list(SORT STEPS)
foreach(f ${STEPS})
  get_filename_component(name ${f} NAME)
  if(NOT name MATCHES "^([0-9][0-9][0-9][0-9])_[a-z0-9_]+\\.lua$")
    message(FATAL_ERROR "${f}: a data step is named NNNN_name.lua")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  if(version LESS 1 OR version GREATER schema)
    message(FATAL_ERROR "${name}: its number must be 1..${schema} (SCHEMA of ${LIBRARY})")
  endif()
  file(STRINGS ${f} runs REGEX "^-- runs: ")
  if(runs STREQUAL "-- runs: before-library")
    set(when HT_STEP_BEFORE_LIBRARY)
  elseif(runs STREQUAL "-- runs: after-library")
    set(when HT_STEP_AFTER_LIBRARY)
  else()
    message(FATAL_ERROR "${name}: wants one line '-- runs: before-library' or '-- runs: after-library'")
  endif()
  ht_c_bytes(${f} bytes len)
  string(APPEND body "static const char step${i}[] = {${bytes} 0};\n")
  string(APPEND table "    {${version}, \"${name}\", step${i}, ${len}, ${when}},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "\nstatic const ht_data_step_t steps[] = {\n${table}    {0, 0, 0, 0, 0}\n};\n\n")
string(APPEND body "const ht_keyspace_t ht_keyspace = {${schema}, library, ${library_len}, steps, ${i}};\n")

# Each written only when it changed: an edit of the library or of a step that
# keeps SCHEMA leaves schema_embed.c, all that the api and worker link, as
# it was.
function(ht_write out text)
  file(WRITE ${out}.tmp "${text}")
  file(COPY_FILE ${out}.tmp ${out} ONLY_IF_DIFFERENT)
  file(REMOVE ${out}.tmp)
endfunction()
ht_write(${OUT} "${body}")
ht_write(${SCHEMA_OUT} "/* Generated from shared/library.lua by cmake/embed_keyspace.cmake. */\n#include \"shared/migrations.h\"\n\nint ht_schema_required(void) { return ${schema}; }\n")
