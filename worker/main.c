/* hangtight-worker: the stock worker (built-in and exec handlers).  A C user
 * who links handlers of their own writes this same main() with
 * ht_worker_register() calls before ht_worker_main(). */
#include "worker/handler.h"

int main(int argc, char **argv)
{
    return ht_worker_main(argc, argv);
}
