// Starts Swagger UI on /api/v1/docs (templates/api_docs.html); a file, not inline, for the CSP.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // No validator badge: it would send the document to validator.swagger.io.
    validatorUrl: null,
  });
});
