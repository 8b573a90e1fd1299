"""API Gateway HTTP APIs (apigatewayv2): APIs, routes, Lambda proxy integrations, stages."""
