import secrets


class RequestIdMiddleware:
    """Gives every request an id that audit events carry, and returns it to the client."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = secrets.token_hex(8)
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id
        return response
