"""Schemathesis hooks for examples/sdk/run.sh.

The fuzzer signs in as an administrator and learns user ids from the responses it
gets, so sooner or later it sends PATCH /api/v1/admin/users/{its own id} with
`{"disabled": true}` or `{"roles": []}`. After that every authenticated operation
answers 401 or 403 and the rest of the run tests nothing. A request that names the
fuzzer's own account in the path is sent for a second, expendable account instead:
the same operation, the same body, only another user.
"""

import os

import schemathesis

OWN = os.environ.get("GATEHOUSE_ST_OWN_USER_ID", "")
STAND_IN = os.environ.get("GATEHOUSE_ST_STAND_IN_USER_ID", "")


@schemathesis.hook
def before_call(context, case, kwargs):
    if OWN and STAND_IN and case.path_parameters and case.path_parameters.get("id") == OWN:
        case.path_parameters["id"] = STAND_IN
