package eddy.differential;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/** JSON values (Jackson trees); null stays null (a tombstone). */
public final class JsonSerde implements Serde<JsonNode> {
  @Override
  public Serializer<JsonNode> serializer() {
    return (topic, v) -> {
      if (v == null) return null;
      try {
        return Main.JSON.writeValueAsBytes(v);
      } catch (IOException e) {
        throw new SerializationException(e);
      }
    };
  }

  @Override
  public Deserializer<JsonNode> deserializer() {
    return (topic, b) -> {
      if (b == null) return null;
      try {
        return Main.JSON.readTree(b);
      } catch (IOException e) {
        throw new SerializationException(e);
      }
    };
  }
}
