// Starts Swagger UI on the document at /api/schema/ (a file of its own: the page's CSP allows no inline script).
window.ui = SwaggerUIBundle({ url: "/api/schema/?format=json", dom_id: "#swagger-ui", deepLinking: true, withCredentials: true });
