// The session's reads and writes of OMERO objects: containers, their contents, map and
// file annotations. Login, su and the request plumbing are in omero_web.cpp.
#include <boost/json/serialize.hpp>
#include <random>

#include "biomero_reactor/omero_web.hpp"
#include "omero_web_detail.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace omero_web_detail;

namespace {

OmeroObject object_of(const json::value& item) {
  return {int_at(item, {"@id"}), string_at(item, {"Name"}), string_at(item, {"Description"}),
          int_at(item, {"omero:details", "owner", "@id"}), int_at(item, {"omero:details", "group", "@id"})};
}

}  // namespace

asio::awaitable<std::vector<OmeroObject>> OmeroWebSession::containers(ContainerKind kind, std::int64_t group_id,
                                                                      std::int64_t owner_id) {
  std::vector<OmeroObject> out;
  for (std::int64_t offset = 0;;) {
    const std::string path = "/api/v0/m/" + std::string(container_type(kind)) + "s/?group=" + std::to_string(group_id) +
                             "&owner=" + std::to_string(owner_id) + "&limit=" + std::to_string(api_page) +
                             "&offset=" + std::to_string(offset);
    const HttpResponse answer = co_await get(path);
    if (answer.result_int() != 200) throw error(answer, "OMERO.web list of " + std::string(container_type(kind)) + "s");
    const json::value body = parse_or_null(answer.body());
    const json::array* data =
        body.is_object() && body.as_object().contains("data") ? body.as_object().at("data").if_array() : nullptr;
    if (data == nullptr) throw broken_answer("OMERO.web list of containers");
    for (const json::value& item : *data) out.push_back(object_of(item));
    offset += static_cast<std::int64_t>(data->size());
    if (data->empty() || offset >= int_at(body, {"meta", "totalCount"})) break;
  }
  co_return out;
}

asio::awaitable<std::int64_t> OmeroWebSession::create_container(ContainerKind kind, std::int64_t group_id,
                                                                std::string name, std::string description) {
  json::object object;
  object["@type"] = std::string("http://www.openmicroscopy.org/Schemas/OME/2016-06#") +
                    (kind == ContainerKind::dataset ? "Dataset" : "Screen");
  object["Name"] = name;
  object["Description"] = description;
  const std::string path = "/api/v0/m/save/?group=" + std::to_string(group_id);
  const std::string content_type = "application/json";
  std::string body = json::serialize(object);
  const HttpResponse answer = co_await post(path, std::move(body), content_type);
  if (answer.result_int() != 201) throw error(answer, "OMERO.web creating " + std::string(container_type(kind)));
  const std::int64_t id = int_at(parse_or_null(answer.body()), {"data", "@id"});
  if (id <= 0) throw broken_answer("OMERO.web creating a container");
  co_return id;
}

asio::awaitable<void> OmeroWebSession::delete_container(ContainerKind kind, std::int64_t id) {
  HttpRequest request{
      http::verb::delete_,
      http_.url().prefix + "/api/v0/m/" + std::string(container_type(kind)) + "s/" + std::to_string(id) + "/", 11};
  const HttpResponse answer = co_await call(std::move(request), true);
  if (answer.result_int() != 200) throw error(answer, "OMERO.web deleting " + std::string(container_type(kind)));
}

asio::awaitable<std::vector<OmeroObject>> OmeroWebSession::children(ContainerKind kind, std::int64_t container_id) {
  std::vector<OmeroObject> out;
  for (std::int64_t offset = 0;;) {
    const std::string path = "/api/v0/m/" + std::string(container_type(kind)) + "s/" + std::to_string(container_id) +
                             "/" + std::string(child_type(kind)) + "s/?limit=" + std::to_string(api_page) +
                             "&offset=" + std::to_string(offset);
    const HttpResponse answer = co_await get(path);
    if (answer.result_int() != 200) {
      throw error(answer,
                  "OMERO.web contents of " + std::string(container_type(kind)) + " " + std::to_string(container_id));
    }
    const json::value body = parse_or_null(answer.body());
    const json::array* data =
        body.is_object() && body.as_object().contains("data") ? body.as_object().at("data").if_array() : nullptr;
    if (data == nullptr) throw broken_answer("OMERO.web container contents");
    for (const json::value& item : *data) out.push_back(object_of(item));
    offset += static_cast<std::int64_t>(data->size());
    if (data->empty() || offset >= int_at(body, {"meta", "totalCount"})) break;
  }
  co_return out;
}

asio::awaitable<std::vector<LinkedMapAnnotation>> OmeroWebSession::map_annotations(std::string object_type,
                                                                                   std::vector<std::int64_t> ids,
                                                                                   std::string ns) {
  std::vector<LinkedMapAnnotation> out;
  for (std::size_t first = 0; first < ids.size(); first += ids_per_read) {
    std::string query = "type=map";
    if (!ns.empty()) add_field(query, "ns", ns);
    for (std::size_t i = first; i < std::min(ids.size(), first + ids_per_read); ++i) {
      add_field(query, object_type, std::to_string(ids[i]));
    }
    for (int page = 1;; ++page) {
      const std::string path = "/webclient/api/annotations/?" + query + "&page=" + std::to_string(page) +
                               "&limit=" + std::to_string(annotations_page);
      const HttpResponse answer = co_await get(path);
      if (answer.result_int() != 200) throw error(answer, "OMERO.web map annotations");
      const json::value body = parse_or_null(answer.body());
      const json::array* list = body.is_object() && body.as_object().contains("annotations")
                                    ? body.as_object().at("annotations").if_array()
                                    : nullptr;
      if (list == nullptr) throw broken_answer("OMERO.web map annotations");
      for (const json::value& item : *list) {
        LinkedMapAnnotation a{int_at(item, {"id"}),
                              string_at(item, {"ns"}),
                              int_at(item, {"owner", "id"}),
                              int_at(item, {"link", "parent", "id"}),
                              {}};
        if (const json::object* o = item.if_object(); o != nullptr && o->contains("values")) {
          if (const json::array* pairs = o->at("values").if_array()) {
            for (const json::value& pair : *pairs) {
              const json::array* kv = pair.if_array();
              if (kv == nullptr || kv->size() != 2 || !(*kv)[0].is_string() || !(*kv)[1].is_string()) continue;
              a.values.emplace_back(std::string((*kv)[0].get_string()), std::string((*kv)[1].get_string()));
            }
          }
        }
        out.push_back(std::move(a));
      }
      if (list->size() < static_cast<std::size_t>(annotations_page)) break;
    }
  }
  co_return out;
}

asio::awaitable<std::vector<std::int64_t>> OmeroWebSession::annotate_map(std::string object_type,
                                                                         std::vector<std::int64_t> ids,
                                                                         MapAnnotation annotation) {
  if (ids.empty()) co_return std::vector<std::int64_t>{};
  if (ids.size() > max_objects_per_write) {
    throw std::invalid_argument("annotate_map takes at most 500 objects per request");
  }
  json::array pairs;
  for (const auto& [key, value] : annotation.values)
    pairs.push_back(json::array{json::string(key), json::string(value)});
  // Ids go in the body and the URL stays bare: with any query string, OMERO.web reads
  // the ids from it instead.
  std::string form;
  for (const std::int64_t id : ids) add_field(form, object_type, std::to_string(id));
  add_field(form, "mapAnnotation", json::serialize(pairs));
  add_field(form, "ns", annotation.ns);
  const std::string path = "/webclient/annotate_map/";
  const std::string content_type = "application/x-www-form-urlencoded";
  const HttpResponse answer = co_await post(path, std::move(form), content_type);
  if (answer.result_int() != 200) throw error(answer, "OMERO.web annotate_map " + annotation.ns);
  const json::value body = parse_or_null(answer.body());
  const json::array* created =
      body.is_object() && body.as_object().contains("annId") ? body.as_object().at("annId").if_array() : nullptr;
  if (created == nullptr) throw broken_answer("OMERO.web annotate_map");
  std::vector<std::int64_t> out;
  for (const json::value& id : *created) out.push_back(id.is_int64() ? id.get_int64() : 0);
  if (out.size() != ids.size()) {
    throw OmeroWebError(OmeroWebError::Kind::permanent, 200,
                        "OMERO.web annotated " + std::to_string(out.size()) + " of " + std::to_string(ids.size()) +
                            " " + object_type + "s in " + annotation.ns + ": the others are not visible to " +
                            user_name_);
  }
  co_return out;
}

asio::awaitable<void> OmeroWebSession::delete_map_annotation(std::int64_t annotation_id) {
  std::string form;
  add_field(form, "annId", std::to_string(annotation_id));
  add_field(form, "mapAnnotation", "[]");
  const std::string path = "/webclient/annotate_map/";
  const std::string content_type = "application/x-www-form-urlencoded";
  const HttpResponse answer = co_await post(path, std::move(form), content_type);
  if (answer.result_int() != 200) throw error(answer, "OMERO.web deleting map annotation");
}

asio::awaitable<std::vector<LinkedFileAnnotation>> OmeroWebSession::file_annotations(std::string object_type,
                                                                                     std::int64_t id) {
  std::vector<LinkedFileAnnotation> out;
  std::string query = "type=file";
  add_field(query, object_type, std::to_string(id));
  for (int page = 1;; ++page) {
    const std::string path = "/webclient/api/annotations/?" + query + "&page=" + std::to_string(page) +
                             "&limit=" + std::to_string(annotations_page);
    const HttpResponse answer = co_await get(path);
    if (answer.result_int() != 200) throw error(answer, "OMERO.web file annotations");
    const json::value body = parse_or_null(answer.body());
    const json::array* list = body.is_object() && body.as_object().contains("annotations")
                                  ? body.as_object().at("annotations").if_array()
                                  : nullptr;
    if (list == nullptr) throw broken_answer("OMERO.web file annotations");
    for (const json::value& item : *list) {
      out.push_back({int_at(item, {"id"}), string_at(item, {"file", "name"}), int_at(item, {"owner", "id"})});
    }
    if (list->size() < static_cast<std::size_t>(annotations_page)) break;
  }
  co_return out;
}

asio::awaitable<std::int64_t> OmeroWebSession::annotate_file(std::string object_type, std::int64_t id,
                                                             std::string file_name, std::string content) {
  std::random_device random;
  const std::string boundary = "biomero-reactor-" + std::to_string(random()) + std::to_string(random());
  std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + object_type + "\"\r\n\r\n" +
                     std::to_string(id) + "\r\n--" + boundary +
                     "\r\nContent-Disposition: form-data; name=\"annotation_file\"; filename=\"" + file_name +
                     "\"\r\nContent-Type: text/plain\r\n\r\n" + content + "\r\n--" + boundary + "--\r\n";
  const std::string path = "/webclient/annotate_file/";
  const std::string content_type = "multipart/form-data; boundary=" + boundary;
  const HttpResponse answer = co_await post(path, std::move(body), content_type);
  if (answer.result_int() != 200) throw error(answer, "OMERO.web annotate_file");
  const json::value parsed = parse_or_null(answer.body());
  const json::array* ids = parsed.is_object() && parsed.as_object().contains("fileIds")
                               ? parsed.as_object().at("fileIds").if_array()
                               : nullptr;
  if (ids == nullptr || ids->empty() || !ids->front().is_int64()) throw broken_answer("OMERO.web annotate_file");
  co_return ids->front().get_int64();
}

}  // namespace biomero_reactor

namespace biomero_reactor {

asio::awaitable<void> OmeroWebSession::rename_image(std::int64_t id, std::string name) {
  // The webclient's in-place name edit: a form with one `name` field (Django's
  // ContainerNameForm, required). The view answers {"bad": "false"} once saved,
  // {"bad": "true", "errs": …} with status 200 when the form is refused, and 404 (to an
  // AJAX request) when the image does not exist or the user cannot see it.
  std::string form;
  add_field(form, "name", name);
  const std::string path = "/webclient/action/savename/image/" + std::to_string(id) + "/";
  const HttpResponse answer = co_await post(path, std::move(form), "application/x-www-form-urlencoded");
  if (answer.result_int() != 200) throw error(answer, "OMERO.web renaming image " + std::to_string(id));
  const json::value body = parse_or_null(answer.body());
  if (string_at(body, {"bad"}) != "false") {
    throw OmeroWebError(OmeroWebError::Kind::permanent, 200,
                        "OMERO.web refused the name for image " + std::to_string(id) + ": " +
                            redact(answer.body().substr(0, 200)));
  }
}

}  // namespace biomero_reactor
