package org.trialfhir.hapiserver;

import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/** Spring configuration of the FHIR R4 (4.0.1) JPA server. */
@Configuration
@Import({JpaR4Config.class, CommonJpaConfig.class})
public class R4ServerConfig {}
