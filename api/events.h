/* GET /v1/jobs/{id}/events: the job's changes as Server-Sent Events (see
 * events.c).  Declared apart from router.h because the stream also needs a
 * word from the server at shutdown. */
#ifndef HT_API_EVENTS_H
#define HT_API_EVENTS_H

#include <h2o.h>

#include "api/router.h"

/* The route handler. */
int ht_events_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* Ends every event stream of the calling api thread (their responses
 * finish after what is already queued), and makes streams still starting
 * end after their first events.  Call on the thread, when it starts to
 * drain. */
void ht_events_shutdown(void);

#endif
